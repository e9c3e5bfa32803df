"""Tiny random Llama and Qwen3 models with a real chat tokenizer, built offline in seconds.

Tests, benchmarks and docs use these instead of downloads: 2 layers, small hidden size, and a
byte-level BPE tokenizer trained here on a small corpus, with the ChatML and thinking special
tokens (`<|im_start|>`, `<|im_end|>`, `<think>`, `</think>`) and a Qwen3-style chat template.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# ChatML with Qwen3's thinking switch: enable_thinking=False pre-fills an empty think block.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

_CORPUS = [
    "SELECT name, email FROM users WHERE age > 30 ORDER BY name LIMIT 10;",
    "SELECT COUNT(*) FROM orders GROUP BY customer_id HAVING COUNT(*) > 2;",
    "SELECT p.title, c.name FROM posts p JOIN categories c ON p.category_id = c.id;",
    "Find all users. List the products cheaper than 20. How many orders were placed?",
    "The quick brown fox jumps over the lazy dog. Schema: users(id, name, email)",
    "Dialect: sql. Question: which employees earn more than 5000? Answer: think step by step.",
    '{"name": "value", "items": [1, 2, 3], "ok": true, "none": null}',
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 ()[]{}<>=!*+-/.,;:'\"_",
]


def build_tokenizer(out_dir: str | Path, vocab_size: int = 512):
    """Train a byte-level BPE tokenizer on the built-in corpus and save it to ``out_dir``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast


def build_tiny_model(out_dir: str | Path, arch: str = "llama", *, seed: int = 0, hidden_size: int = 64) -> Path:
    """Write a tiny random ``llama`` or ``qwen3`` causal LM plus tokenizer to ``out_dir``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    tokenizer = build_tokenizer(out)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif arch == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(head_dim=hidden_size // 4, **common))
    else:
        raise ValueError(f"unknown tiny arch {arch!r} (llama or qwen3)")
    model.generation_config.eos_token_id = common["eos_token_id"]
    model.generation_config.pad_token_id = common["pad_token_id"]
    model.save_pretrained(str(out))
    return out
