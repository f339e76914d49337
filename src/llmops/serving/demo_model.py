"""A tiny random-weight Qwen2 model, built offline, for testing the serving path.

Nothing can be downloaded here, yet vLLM needs a real model directory: a
config, weights, a tokenizer and a chat template. This module writes one from
nothing: a byte-level BPE tokenizer trained on a few sentences and a
Qwen2-architecture model with random weights, shaped so that vLLM's CPU
attention kernels accept it (head_dim 64). Its answers are random text; it
proves that the serving path works, not that a model is any good.

torch, transformers and tokenizers come with the ``serve`` extra and are
imported only when a model is built, so the base install stays light.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError
from llmops.serving.models import ModelFacts

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"
SPECIAL_TOKENS = (END_OF_TEXT, IM_START, IM_END)

# ChatML, the format Qwen2 chat models use.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# A few sentences are enough for a byte-level BPE to cover any input.
_CORPUS = (
    "GitOps delivery of large language models with Argo CD and KServe.",
    "vLLM serves an OpenAI-compatible API: chat completions, completions and models.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "Hello! How can I help you today? Say hello to the smoke test.",
    "Environments: dev, staging and production, promoted through Git.",
)


class DemoModelError(LlmopsError):
    """The demo model could not be built (serving extra missing, unwritable path)."""


@dataclass(frozen=True, kw_only=True)
class DemoShape:
    """The model's shape. The defaults are the smallest that vLLM's CPU kernels accept."""

    hidden_size: int = 128
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    num_hidden_layers: int = 2
    intermediate_size: int = 256
    vocab_size: int = 512
    max_position_embeddings: int = 2048

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def model_facts(self, name: str = "demo") -> ModelFacts:
        """The facts of the model :func:`build` writes (Qwen2: q/k/v biases, untied embeddings)."""
        return ModelFacts(
            name=name,
            architecture="Qwen2ForCausalLM",
            num_layers=self.num_hidden_layers,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_attention_heads=self.num_attention_heads,
            num_kv_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=False,
            dtype="bfloat16",
            qkv_bias=True,
        )


def _require_serving_stack() -> tuple[Any, Any, Any]:
    try:
        import tokenizers
        import torch
        import transformers
    except ImportError as exc:
        raise DemoModelError(
            f"building the demo model needs torch, transformers and tokenizers: {exc}",
            hint="install the serving extra: pip install 'llmops[serve]'",
        ) from exc
    return torch, transformers, tokenizers


def _train_tokenizer(tokenizers: Any, transformers: Any, shape: DemoShape, out: Path) -> int:
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=shape.vocab_size - len(SPECIAL_TOKENS),
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS) * 4, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        unk_token=None,
        additional_special_tokens=[IM_START, IM_END],
        model_max_length=shape.max_position_embeddings,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out))
    return int(tok.get_vocab_size())


def build(path: Path, *, seed: int = 0, shape: DemoShape | None = None, force: bool = False) -> Path:
    """Write the demo model to ``path`` (created; must be absent or empty unless ``force``)."""
    shape = shape or DemoShape()
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not force:
        raise DemoModelError(
            f"{path} exists and is not empty", hint="pick another path or pass --force to overwrite it"
        )
    torch, transformers, tokenizers = _require_serving_stack()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and move into place, so a half-written model never appears.
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        used_vocab = _train_tokenizer(tokenizers, transformers, shape, staging)
        torch.manual_seed(seed)
        ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}  # trainer puts special tokens first
        config = transformers.Qwen2Config(
            vocab_size=max(shape.vocab_size, used_vocab),
            hidden_size=shape.hidden_size,
            intermediate_size=shape.intermediate_size,
            num_hidden_layers=shape.num_hidden_layers,
            num_attention_heads=shape.num_attention_heads,
            num_key_value_heads=shape.num_key_value_heads,
            max_position_embeddings=shape.max_position_embeddings,
            # Untied: with tied embeddings a random model repeats its last input token forever.
            tie_word_embeddings=False,
            bos_token_id=ids[END_OF_TEXT],
            eos_token_id=ids[IM_END],
            pad_token_id=ids[END_OF_TEXT],
            torch_dtype="bfloat16",
        )
        model = transformers.Qwen2ForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(str(staging), safe_serialization=True)
        # vLLM reads the stop token from generation_config.json.
        (staging / "generation_config.json").write_text(
            json.dumps(
                {"bos_token_id": ids[END_OF_TEXT], "eos_token_id": [ids[IM_END], ids[END_OF_TEXT]]},
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        (staging / "README.md").write_text(
            "Random-weight Qwen2-architecture model written by `llmops demo-model`.\n"
            "Its output is random text: it tests the serving path, not model quality.\n",
            encoding="utf-8",
        )
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    except OSError as exc:
        raise DemoModelError(f"cannot write the demo model to {path}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path
