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


# HF Llama parameter names -> GGUF tensor names (llama.cpp's naming, which transformers reads back).
_GGUF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm",
    "post_attention_layernorm.weight": "ffn_norm",
    "self_attn.q_proj.weight": "attn_q",
    "self_attn.k_proj.weight": "attn_k",
    "self_attn.v_proj.weight": "attn_v",
    "self_attn.o_proj.weight": "attn_output",
    "mlp.gate_proj.weight": "ffn_gate",
    "mlp.up_proj.weight": "ffn_up",
    "mlp.down_proj.weight": "ffn_down",
}


def _gguf_permute(weights, n_head: int):
    # llama.cpp stores q/k rows interleaved for its RoPE; transformers undoes exactly this on load.
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _gguf_tokenizer(writer, model_dir: Path) -> None:
    import json

    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    added = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = {**tok["model"]["vocab"], **added}
    tokens = [""] * len(vocab)
    for text, idx in vocab.items():
        tokens[idx] = text
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in added else 1 for t in tokens])  # 3 = control token
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]])
    writer.add_eos_token_id(added["<|im_end|>"])
    writer.add_pad_token_id(added["<|endoftext|>"])
    writer.add_bos_token_id(added["<|im_start|>"])
    writer.add_chat_template(CHAT_TEMPLATE)


def write_tiny_gguf(model_dir: str | Path, out_file: str | Path) -> Path:
    """Write the tiny *Llama* at ``model_dir`` (from ``build_tiny_model``) as an F32 GGUF file, for import tests."""
    import json

    from gguf import GGUFWriter
    from safetensors.torch import load_file

    model_dir, out_file = Path(model_dir), Path(out_file)
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    writer = GGUFWriter(str(out_file), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_freq_base(float(cfg["rope_parameters"]["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    writer.add_rope_dimension_count(cfg["hidden_size"] // n_head)
    writer.add_vocab_size(cfg["vocab_size"])
    _gguf_tokenizer(writer, model_dir)
    for name, tensor in load_file(str(model_dir / "model.safetensors")).items():
        array = tensor.float().numpy()
        if name == "model.embed_tokens.weight":
            writer.add_tensor("token_embd.weight", array)
        elif name == "model.norm.weight":
            writer.add_tensor("output_norm.weight", array)
        else:  # model.layers.<n>.<rest>
            _, _, layer, rest = name.split(".", 3)
            kind = _GGUF_LAYER_NAMES[rest]
            if kind in ("attn_q", "attn_k"):
                array = _gguf_permute(array, n_head if kind == "attn_q" else n_kv)
            writer.add_tensor(f"blk.{layer}.{kind}.weight", array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file
