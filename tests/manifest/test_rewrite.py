"""The preserving rewriter: key order, unknown and `_` keys, indentation, atomicity, validity."""

from __future__ import annotations

import json
import stat

import pytest

from expertkit.errors import ManifestError
from expertkit.manifest.rewrite import adapters_list, base_model_entry, merge_into, set_path, update_manifest
from tests.manifest.samples import legacy_manifest, valid_manifest, write_manifest


def _wild() -> dict:
    data = {"_comment": "keep me first", **valid_manifest(), "x_vendor": {"b": 1, "a": 2}}
    data["training"]["config"]["_why"] = "rank 12 per the guide"
    data["quality_metrics"] = {"sql_valid": "16/18", "benchmark_score": 0.0}
    return data


def test_round_trip_keeps_order_unknown_and_comment_keys(tmp_path):
    path = write_manifest(tmp_path, _wild())

    def edit(raw):
        merge_into(raw, "quality_metrics", {"benchmark_score": 8.5, "win_rate_vs_base": 0.9})
        set_path(raw, "perf.latency_ms_overhead", 1.5)
        adapters_list(raw).append({"type": "dora", "path": "weights/x/final", "r": 12, "alpha": 24})

    new = update_manifest(path, edit)
    on_disk = json.loads(path.read_text())
    assert on_disk == new
    expected_keys = list(_wild().keys())
    assert list(on_disk)[: len(expected_keys)] == expected_keys  # old keys keep their places
    assert list(on_disk)[-1] == "perf"  # new ones go last
    assert on_disk["_comment"] == "keep me first" and on_disk["x_vendor"] == {"b": 1, "a": 2}
    assert list(on_disk["x_vendor"]) == ["b", "a"]
    assert on_disk["training"]["config"]["_why"] == "rank 12 per the guide"
    assert list(on_disk["quality_metrics"]) == ["sql_valid", "benchmark_score", "win_rate_vs_base"]
    assert on_disk["quality_metrics"]["benchmark_score"] == 8.5
    assert on_disk["base_models"][0]["adapters"][0]["path"] == "weights/x/final"


def test_noop_rewrite_is_byte_identical(tmp_path):
    path = write_manifest(tmp_path, _wild())
    before = path.read_bytes()
    update_manifest(path, lambda raw: None)
    assert path.read_bytes() == before


@pytest.mark.parametrize("indent", [2, 4])
def test_indentation_is_kept(tmp_path, indent):
    path = write_manifest(tmp_path, _wild(), indent=indent)
    update_manifest(path, lambda raw: set_path(raw, "version", "0.2.0"))
    assert path.read_text() == json.dumps({**_wild(), "version": "0.2.0"}, indent=indent) + "\n"


def test_invalid_edit_is_refused_and_file_untouched(tmp_path):
    path = write_manifest(tmp_path, _wild())
    before = path.read_bytes()
    with pytest.raises(ManifestError, match="refusing to write an invalid manifest: training.config.rank"):
        update_manifest(path, lambda raw: set_path(raw, "training.config.rank", 0))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp files left


def test_file_mode_is_kept(tmp_path):
    path = write_manifest(tmp_path, _wild())
    path.chmod(0o640)
    update_manifest(path, lambda raw: set_path(raw, "version", "0.3.0"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_legacy_manifest_stays_legacy(tmp_path):
    path = write_manifest(tmp_path, legacy_manifest())

    def edit(raw):
        base_model_entry(raw)["sha256"] = "a" * 64
        adapters_list(raw)[0]["size_bytes"] = 1234

    update_manifest(path, edit)
    on_disk = json.loads(path.read_text())
    assert "base_models" not in on_disk and on_disk["base_model"]["sha256"] == "a" * 64
    assert on_disk["adapters"][0]["size_bytes"] == 1234 and on_disk["_comment"] == "written by an old tool"


def test_base_model_entry_by_name():
    raw = valid_manifest()
    raw["base_models"].append({"name": "/models/Qwen3-0.6B", "adapters": []})
    assert base_model_entry(raw, "qwen3-0.6b")["name"] == "/models/Qwen3-0.6B"
    assert base_model_entry(raw)["name"] == "smollm2-135m-instruct"
    with pytest.raises(ManifestError, match="no base model named"):
        base_model_entry(raw, "llama")
    legacy = {"base_model": "m"}
    assert base_model_entry(legacy) == {"name": "m"} and legacy["base_model"] == {"name": "m"}


def test_set_path_creates_objects():
    raw: dict = {}
    set_path(raw, "a.b.c", 1)
    assert raw == {"a": {"b": {"c": 1}}}
