"""GPU catalog: memory, compute capability and bf16 support of common NVIDIA data-centre GPUs.

Memory units, exactly:

* ``memory_bytes`` is the capacity NVIDIA prints on the datasheet ("16 GB", "80 GB", "141 GB").
  For these products that figure is binary: a "16 GB" T4 carries 16 x 2**30 bytes of DRAM
  (``nvidia-smi`` shows 16,384 MiB before ECC), so ``memory_bytes = GB x 1,073,741,824``.
* ``usable_bytes`` is what the CUDA driver reports as the device total (``cudaMemGetInfo``,
  what vLLM multiplies by ``--gpu-memory-utilization``). It is smaller: GDDR6 cards (T4, A10G,
  L4, L40S) run with ECC on, which hides 1/16 of the DRAM, and the driver and firmware keep a
  few hundred MiB on every card. The figures below are rounded *down* from totals commonly
  reported for these cards, so estimates built on them err on the safe side.

Compute capability decides bf16: vLLM refuses bfloat16 below 8.0 (T4 7.5, V100 7.0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops.errors import LlmopsError

GIB = 1024**3
MIB = 1024**2


class GpuError(LlmopsError):
    """An unknown or unreadable GPU type."""


@dataclass(frozen=True, kw_only=True)
class Gpu:
    id: str  # catalog key, e.g. "A100-80GB"
    name: str  # the product name vLLM logs, e.g. "NVIDIA A100-SXM4-80GB"
    memory_bytes: int  # datasheet capacity (binary GB, see module docstring)
    usable_bytes: int  # device total as the driver reports it (conservative)
    compute_capability: tuple[int, int]
    memory_type: str

    @property
    def supports_bf16(self) -> bool:
        return self.compute_capability >= (8, 0)

    @property
    def capability(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    @property
    def memory_gb(self) -> int:
        return self.memory_bytes // GIB

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "memory_bytes": self.memory_bytes,
            "usable_bytes": self.usable_bytes,
            "compute_capability": self.capability,
            "supports_bf16": self.supports_bf16,
            "memory_type": self.memory_type,
        }


def _gpu(gid: str, name: str, gb: int, usable_mib: int, cc: tuple[int, int], mem: str) -> Gpu:
    return Gpu(
        id=gid,
        name=name,
        memory_bytes=gb * GIB,
        usable_bytes=usable_mib * MIB,
        compute_capability=cc,
        memory_type=mem,
    )


# usable MiB: GDDR6 = GB x 1024 x 15/16 (ECC) minus 512 MiB (1 GiB for L40S);
# HBM = GB x 1024 minus 896 MiB to 2 GiB. Each is below the totals reported for that card.
CATALOG: dict[str, Gpu] = {
    g.id: g
    for g in (
        _gpu("T4", "Tesla T4", 16, 14_848, (7, 5), "GDDR6"),
        _gpu("V100-16GB", "Tesla V100-SXM2-16GB", 16, 15_360, (7, 0), "HBM2"),
        _gpu("V100-32GB", "Tesla V100-SXM2-32GB", 32, 31_744, (7, 0), "HBM2"),
        _gpu("A10G", "NVIDIA A10G", 24, 22_528, (8, 6), "GDDR6"),
        _gpu("L4", "NVIDIA L4", 24, 22_528, (8, 9), "GDDR6"),
        _gpu("L40S", "NVIDIA L40S", 48, 45_056, (8, 9), "GDDR6"),
        _gpu("A100-40GB", "NVIDIA A100-SXM4-40GB", 40, 40_064, (8, 0), "HBM2"),
        _gpu("A100-80GB", "NVIDIA A100-SXM4-80GB", 80, 80_896, (8, 0), "HBM2e"),
        _gpu("H100-80GB", "NVIDIA H100 80GB HBM3", 80, 80_896, (9, 0), "HBM3"),
        _gpu("H200", "NVIDIA H200", 141, 142_336, (9, 0), "HBM3e"),
    )
}

# How clusters spell GPU types: NVIDIA GPU feature discovery's ``nvidia.com/gpu.product``
# label (e.g. "NVIDIA-A100-SXM4-80GB", "Tesla-T4", "NVIDIA-H100-80GB-HBM3"), RHOAI hardware
# profile / accelerator names ("nvidia-l4"), and what people type ("a100", "h100").
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bt4\b", "T4"),
    (r"\bv100\b.*\b32\s?gb?\b", "V100-32GB"),
    (r"\bv100\b", "V100-16GB"),
    (r"\ba10g\b", "A10G"),
    (r"\bl40s\b", "L40S"),
    (r"\bl4\b", "L4"),
    (r"\ba100\b.*\b80\s?(gb?)?\b", "A100-80GB"),
    (r"\ba100\b", "A100-40GB"),
    (r"\bh100\b", "H100-80GB"),
    (r"\bh200\b", "H200"),
)


def known_gpus() -> list[str]:
    return list(CATALOG)


def _tokens(text: str) -> str:
    """Lower case, separators to spaces: "NVIDIA-A100-SXM4-80GB" -> "nvidia a100 sxm4 80gb"."""
    return " ".join(re.split(r"[^a-z0-9]+", text.lower())).strip()


def find(text: str) -> Gpu | None:
    """The catalog entry a GPU type string names, or None."""
    if text in CATALOG:
        return CATALOG[text]
    norm = _tokens(text)
    for gid in CATALOG:
        if _tokens(gid) == norm:
            return CATALOG[gid]
    if re.search(r"\bh100\b.*\b(nvl|94\s?gb?|pcie?)\b", norm) or re.search(r"\bl40\b(?!s)", norm):
        return None  # other memory sizes than the catalog's entry: refuse rather than guess
    for pattern, gid in _PATTERNS:
        if re.search(pattern, norm):
            return CATALOG[gid]
    return None


def get(text: str) -> Gpu:
    gpu = find(text)
    if gpu is None:
        raise GpuError(
            f"unknown GPU type {text!r}",
            hint="known GPUs: "
            + ", ".join(known_gpus())
            + " (node labels like NVIDIA-A100-SXM4-80GB work too)",
        )
    return gpu
