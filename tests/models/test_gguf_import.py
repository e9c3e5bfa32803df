"""Importing a .gguf file: converted once into EXPERT_HOME, loads with the same weights, atomic on failure."""

from __future__ import annotations

import json

import pytest
import torch

from expertkit.errors import ValidationError
from expertkit.models.importing import import_model
from expertkit.models.index import read_index
from expertkit.models.loading import load_base
from expertkit.models.tiny import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tiny_llama_dir, tmp_path_factory):
    return write_tiny_gguf(tiny_llama_dir, tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


def test_gguf_import_converts_and_matches_the_original(cli, tiny_gguf, tiny_llama_dir, expert_home):
    res = cli("models", "import", tiny_gguf, "--name", "Tiny GGUF", "--json")
    assert res.exit_code == 0, res
    entry = json.loads(res.stdout)
    dest = expert_home / "models" / "tiny-gguf"
    assert entry["kind"] == "converted" and entry["path"] == str(dest) and entry["origin"] == str(tiny_gguf)
    assert (dest / "model.safetensors").is_file() and (dest / "config.json").is_file()
    assert "quantization_config" not in json.loads((dest / "config.json").read_text())
    assert not list(dest.parent.glob(".tmp-*"))

    converted = load_base("Tiny GGUF", device="cpu")
    original = load_base(str(tiny_llama_dir), device="cpu")
    text = "SELECT name FROM users WHERE age > 30;"
    ids = original.tokenizer(text, return_tensors="pt").input_ids
    assert converted.tokenizer(text, return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.no_grad():
        assert torch.allclose(converted.model(ids).logits, original.model(ids).logits, atol=1e-5)
    assert converted.tokenizer.eos_token == "<|im_end|>" and "<|im_start|>" in converted.tokenizer.chat_template
    (row,) = [r for r in json.loads(cli("models", "list", "--json").stdout)["models"] if r["name"] == "Tiny GGUF"]
    assert row["ready"] and row["architecture"] == "LlamaForCausalLM" and row["kind"] == "converted"


def test_gguf_import_with_progress_display(cli, tiny_gguf):
    res = cli("models", "import", tiny_gguf)
    assert res.exit_code == 0, res
    assert "imported 'tiny-llama' (converted)" in res.stdout
    assert "Converting and de-quantizing" not in res.output  # transformers' own tqdm bar stays quiet


def test_interrupted_conversion_leaves_nothing(tiny_gguf, expert_home, monkeypatch):
    from transformers import PreTrainedModel

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", boom)
    with pytest.raises(KeyboardInterrupt):
        import_model(tiny_gguf, "half")
    models = expert_home / "models"
    assert not (models / "half").exists() and not list(models.glob(".tmp-*"))
    assert "half" not in read_index()["models"]


def test_not_a_gguf_is_validation_error(tmp_path, cli):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValidationError):
        import_model(bad, "bad")
    res = cli("models", "import", bad)
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize("keep", [0, 3, 100, 1000, -10])
def test_truncated_gguf_is_one_line_exit_2_and_leaves_nothing(cli, tiny_gguf, tmp_path, expert_home, keep):
    cut = tmp_path / "cut.gguf"
    data = tiny_gguf.read_bytes()
    cut.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    res = cli("models", "import", cut, "--name", "cut")
    assert res.exit_code == 2, res
    assert "Traceback" not in res.output and len(res.stderr.strip().splitlines()) <= 2
    assert "truncated" in res.stderr or "not a GGUF file" in res.stderr
    models = expert_home / "models"
    assert not models.exists() or not [p for p in models.iterdir() if p.name != "index.json"]
