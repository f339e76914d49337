"""Regenerate src/llmops/serving/data/vllm_flags.json from the installed vLLM's own argument parser.

Run with a Python that has vLLM installed (the `serve` extra):
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/gen_vllm_flags.py
The catalog lets `llmops validate` and `llmops size` parse vLLM command lines without
importing vLLM (the base install stays light).
"""

from __future__ import annotations

import json
from pathlib import Path

from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser

import vllm


def main() -> None:
    parser = make_arg_parser(FlexibleArgumentParser())
    flags: dict[str, dict[str, str | None]] = {}
    aliases: dict[str, str] = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs:
            continue
        kind = "bool" if action.nargs == 0 else ("list" if action.nargs in ("+", "*") else "value")
        choices = sorted(str(c) for c in action.choices) if action.choices else None
        for name in longs:
            type_name = getattr(action.type, "__name__", None)
            flags[name[2:]] = {"kind": kind, "type": type_name, "choices": choices}
        for short in (s for s in action.option_strings if not s.startswith("--")):
            aliases[short[1:]] = longs[0][2:]
    out = {"vllm_version": vllm.__version__, "flags": flags, "aliases": aliases}
    target = Path(__file__).resolve().parent.parent / "src/llmops/serving/data/vllm_flags.json"
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(flags)} flags from vLLM {vllm.__version__} -> {target}")


if __name__ == "__main__":
    main()
