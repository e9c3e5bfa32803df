"""`expert-cli models list|import|prepare|show` through the real CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from expertkit.models.aliases import DEFAULT_MODEL
from expertkit.models.digest import model_digest
from expertkit.models.loading import load_base
from expertkit.models.resolve import resolve_model


def _list(cli) -> dict:
    res = cli("models", "list", "--json")
    assert res.exit_code == 0, res
    return json.loads(res.stdout)


def test_list_json_shows_alias_not_ready_with_gguf_facts(cli):
    data = _list(cli)
    assert "sha256" in data["digest"] and "safetensors" in data["digest"]
    (row,) = [r for r in data["models"] if r["name"] == DEFAULT_MODEL]
    assert row["source"] == "alias" and row["ready"] is False and row["sha256"] is None
    assert row["architecture"] == "llama" and 130_000_000 < row["parameters"] < 140_000_000
    assert row["origin"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_list_table(cli):
    res = cli("models", "list")
    assert res.exit_code == 0 and DEFAULT_MODEL in res.stdout and "models prepare" in res.stdout


def test_import_dir_is_referenced_and_resolves(cli, tiny_qwen3_dir):
    res = cli("models", "import", tiny_qwen3_dir, "--name", "Qwen3-0.6B", "--json")
    assert res.exit_code == 0, res
    entry = json.loads(res.stdout)
    assert entry["kind"] == "referenced" and entry["path"] == str(tiny_qwen3_dir.resolve())
    assert entry["sha256"] == model_digest(tiny_qwen3_dir)
    (row,) = [r for r in _list(cli)["models"] if r["name"] == "Qwen3-0.6B"]
    assert row == {**row, "source": "imported", "ready": True, "architecture": "Qwen3ForCausalLM", "sha256": entry["sha256"]}
    assert row["parameters"] > 0 and row["size_bytes"] > 0
    resolved = resolve_model("Qwen3-0.6B")
    assert resolved.source == "imported" and resolved.path == tiny_qwen3_dir.resolve()
    assert type(load_base("Qwen3-0.6B", device="cpu").model).__name__ == "Qwen3ForCausalLM"


def test_import_copy_survives_the_original_moving(cli, tiny_llama_dir, tmp_path, expert_home):
    src = shutil.copytree(tiny_llama_dir, tmp_path / "my-llama")
    res = cli("models", "import", src, "--copy")
    assert res.exit_code == 0, res
    assert "imported 'my-llama' (copied)" in res.stdout
    shutil.rmtree(src)
    resolved = resolve_model("my-llama")
    assert resolved.path == expert_home / "models" / "my-llama"
    assert load_base("my-llama", device="cpu").model is not None


def test_referenced_import_that_vanished_is_environment_problem(cli, tiny_llama_dir, tmp_path):
    src = shutil.copytree(tiny_llama_dir, tmp_path / "gone")
    assert cli("models", "import", src).exit_code == 0
    shutil.rmtree(src)
    res = cli("models", "show", "gone")
    assert res.exit_code == 3 and "no longer holds a model" in res.stderr
    (row,) = [r for r in _list(cli)["models"] if r["name"] == "gone"]
    assert row["ready"] is False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--name", DEFAULT_MODEL], "built-in alias"),
        (["--name", ".hidden"], "must be non-empty"),
    ],
)
def test_import_bad_names_exit_2(cli, tiny_llama_dir, args, needle):
    res = cli("models", "import", tiny_llama_dir, *args)
    assert res.exit_code == 2 and needle in res.stderr


def test_import_twice_needs_force(cli, tiny_llama_dir):
    assert cli("models", "import", tiny_llama_dir, "--name", "x").exit_code == 0
    res = cli("models", "import", tiny_llama_dir, "--name", "x")
    assert res.exit_code == 2 and "--force" in res.stderr
    assert cli("models", "import", tiny_llama_dir, "--name", "x", "--force").exit_code == 0


def test_import_non_model_dir_names_what_is_missing(cli, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    res = cli("models", "import", tmp_path)
    assert res.exit_code == 2 and "safetensors" in res.stderr and "tokenizer" in res.stderr


def test_import_missing_path_exit_2(cli, tmp_path):
    res = cli("models", "import", tmp_path / "nope")
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_show_path_and_prepare_unknown(cli, tiny_llama_dir):
    res = cli("models", "show", tiny_llama_dir, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["source"] == "path"
    res = cli("models", "prepare", "Qwen3-0.6B")
    assert res.exit_code == 2 and "not a built-in alias" in res.stderr


def test_prepare_already_prepared_is_instant(cli, expert_home, tiny_llama_dir):
    shutil.copytree(tiny_llama_dir, expert_home / "models" / DEFAULT_MODEL)
    res = cli("models", "prepare")
    assert res.exit_code == 0 and "already prepared" in res.stdout
