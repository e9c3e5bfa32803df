"""`validate` warns about this machine: a base model that doesn't resolve, hardware the settings need, a mixed set."""

from __future__ import annotations

import json

import pytest

from tests.manifest.test_guide_template import filled_guide_template


def warnings_of(cli, manifest) -> dict[str, str]:
    res = cli("validate", "--manifest", manifest, "--json")
    assert res.exit_code == 0, res
    return {w["path"]: w["message"] for w in json.loads(res.stdout)["warnings"]}


def test_unresolvable_base_model_warns(cli, tmp_path):
    assert cli("new", "sql", "--base-model", "nosuchmodel", cwd=tmp_path).exit_code == 0
    found = warnings_of(cli, tmp_path / "expert-sql" / "manifest.json")
    assert "does not resolve on this machine" in found["base_models[0].name"]
    assert "models import" in found["base_models[0].name"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only fallbacks")
def test_guide_template_on_a_cpu_machine_says_what_training_will_do(cli, tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(filled_guide_template(), indent=2))
    found = warnings_of(cli, tmp_path / "manifest.json")
    assert "does not resolve" in found["base_models[0].name"]  # the guide's F:/... path
    assert "loads unquantized in float32" in found["base_models[0].quantization"]
    assert "training runs in float32" in found["training.config.fp16"]
    assert "plain PEFT" in found["training.config.use_unsloth"]


def test_a_resolvable_cpu_friendly_manifest_gets_no_machine_warning(cli, tmp_path, tiny_llama_dir):
    assert cli("new", "sql", "--base-model", tiny_llama_dir, cwd=tmp_path).exit_code == 0
    found = warnings_of(cli, tmp_path / "expert-sql" / "manifest.json")
    assert not [p for p in found if p.startswith(("base_models", "training.config"))]
