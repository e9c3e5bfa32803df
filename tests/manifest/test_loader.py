"""The loader: schema 1.0 -> 2.0 migration, error collection, extra keys, path resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expertkit.errors import ManifestError
from expertkit.manifest.loader import inspect_manifest, load_manifest, migrate, parse_manifest
from tests.manifest.samples import legacy_manifest, valid_manifest, write_manifest


def test_legacy_manifest_is_migrated_in_memory_only(tmp_path):
    (tmp_path / "weights" / "adapter").mkdir(parents=True)
    path = write_manifest(tmp_path, legacy_manifest())
    before = path.read_text()
    loaded = load_manifest(path)
    assert loaded.migrated_from == "1.0"
    m = loaded.model
    assert m.schema_version == "2.0"
    assert m.base_models[0].name == "smollm2-135m-instruct" and m.base_models[0].quantization == "int4"
    assert m.base_models[0].adapters[0].path == "weights/adapter" and m.base_models[0].adapters[0].r == 16
    assert loaded.raw == json.loads(before)  # raw is what is on disk
    assert path.read_text() == before


def test_legacy_base_model_as_string():
    data, version, problems = migrate({"name": "expert-a", "version": "0.1.0", "base_model": "m"})
    assert (version, problems) == ("1.0", [])
    assert data["base_models"] == [{"name": "m", "adapters": []}] and "base_model" not in data


@pytest.mark.parametrize("raw, path, text", [
    ({"base_model": "m", "base_models": [{"name": "m"}]}, "base_model", "both `base_model` (schema 1.0) and `base_models` (2.0)"),
    ({"base_model": 5}, "base_model", "5 is invalid (expected a model name or an object with `name`)"),
    ({"schema_version": "1.0"}, "base_model", "schema 1.0 manifest without `base_model`"),
    ({"base_model": {"name": "m", "adapters": []}, "adapters": []}, "adapters", "both `adapters` and `base_model.adapters`"),
])
def test_migration_problems(raw, path, text):
    model, _, problems = parse_manifest({"name": "expert-a", "version": "0.1.0", **raw})
    assert model is None
    assert any(p.path == path and text in p.message for p in problems), problems


def test_wild_manifests_load(tmp_path):
    data = {"_comment": "top", **valid_manifest()}
    data["quality_metrics"] = {"sql_valid": "16/18", "benchmark_score": "8.2", "test_queries": 18}
    data["perf"] = {"latency_ms_overhead": "~3", "notes": "cpu"}
    data["base_models"][0]["rope_scaling"] = {"type": "ntk-by-parts", "factor": 8.0, "_comment": "x"}
    data["limitations"].append("plain string limitation")
    data["future_field"] = {"anything": [1, 2]}
    loaded = load_manifest(write_manifest(tmp_path, data))
    assert loaded.model.quality_metrics.benchmark_score == "8.2"
    assert loaded.model.quality_metrics.model_extra == {"sql_valid": "16/18"}
    assert [w.path for w in loaded.warnings if "unknown key" in w.message] == ["future_field"]


def test_load_manifest_raises_one_error_listing_all(tmp_path):
    data = valid_manifest()
    data["name"] = "bad"
    data["constraints"]["load_order"] = 99
    with pytest.raises(ManifestError) as info:
        load_manifest(write_manifest(tmp_path, data))
    exc = info.value
    assert "(and 1 more)" in exc.message and exc.exit_code == 2
    assert {p.path for p in exc.problems} == {"name", "constraints.load_order"}
    assert "expert-cli validate" in exc.hint


def test_inspect_manifest_returns_problems_without_raising(tmp_path):
    data = valid_manifest()
    data["training"]["config"]["rank"] = -1
    loaded, problems = inspect_manifest(write_manifest(tmp_path, data))
    assert loaded is None
    assert any(p.path == "training.config.rank" for p in problems)


def test_check_files_false_skips_file_checks(tmp_path):
    data = valid_manifest()
    data["training"]["decoding"]["grammar_file"] = "missing.gbnf"
    loaded = load_manifest(write_manifest(tmp_path, data), check_files=False)
    assert loaded.warnings == []


def test_resolve_is_relative_to_the_manifest(tmp_path, monkeypatch):
    (tmp_path / "e").mkdir()
    monkeypatch.chdir(tmp_path)
    loaded = load_manifest(write_manifest(tmp_path / "e", valid_manifest()))
    assert loaded.resolve("datasets/train.jsonl") == tmp_path / "e" / "datasets" / "train.jsonl"
    assert loaded.resolve("/abs/x") == Path("/abs/x")


def test_deeply_nested_json_is_a_clean_error(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ManifestError, match="nested too deeply"):
        load_manifest(path)


def test_invalid_utf8_is_a_clean_error(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_bytes(b'{"name": "\xff"}')
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(path)
