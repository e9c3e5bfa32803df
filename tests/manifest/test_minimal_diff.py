"""Rewrites of a CRLF manifest written in the reference conventions change only the owned keys'
lines: line ends, indentation, blank lines, inline arrays and comment keys elsewhere stay
byte-identical (dataset prepare, test --update-manifest, test --checkpoints, package)."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest

from expertkit.evaluation.checkpoints import CheckpointResult, record_checkpoints
from expertkit.evaluation.recording import record_suite
from expertkit.manifest.json_patch import patch_json_text
from expertkit.manifest.rewrite import adapters_list, set_path, update_manifest

CORPUS = Path(__file__).parent / "reference_corpus" / "expert-refsql"


@pytest.fixture
def manifest(tmp_path) -> Path:
    shutil.copytree(CORPUS, tmp_path / "x")
    return tmp_path / "x" / "manifest.json"


def _changed(before: bytes, after: bytes) -> list[str]:
    """The lines (with their line ends) that differ."""
    a, b = before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True)
    return [line for line in difflib.unified_diff(a, b, n=0) if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_test_update_manifest_changes_only_quality_and_perf_lines(manifest):
    before = manifest.read_bytes()
    record_suite(manifest, {"benchmark_score": 8.5, "test_queries": 2}, {"latency_ms_overhead": 1.25})
    after = manifest.read_bytes()
    assert after.count(b"\r\n") == before.count(b"\r\n") and b"\n" not in after.replace(b"\r\n", b"")
    assert sorted(_changed(before, after)) == sorted([
        '-    "benchmark_score": 0,\r\n', '-    "test_queries": 0,\r\n', '-    "latency_ms_overhead": 0,\r\n',
        '+    "benchmark_score": 8.5,\r\n', '+    "test_queries": 2,\r\n', '+    "latency_ms_overhead": 1.25,\r\n',
    ])


def test_checkpoints_and_package_edits_touch_only_their_keys(manifest):
    before = manifest.read_bytes()
    result = CheckpointResult("weights/qwen3-0-6b/checkpoint-250", 250, 8.0, 4, 5, "2026-01-01")

    def edit(raw):
        record_checkpoints(raw, [result], result)
        adapters_list(raw)[0].update(path="weights/qwen3-0-6b/checkpoint-250", size_bytes=1234)

    update_manifest(manifest, edit)
    changed = _changed(before, manifest.read_bytes())
    assert all(line.endswith("\r\n") for line in changed)
    touched = {line[1:].strip().split(":")[0] for line in changed}
    assert touched <= {'"size_bytes"', '"sha256"', '"_comment"', '"path"', '"step"', '"score"', '"win_rate"', '"best_for"',
                       '"benchmark_score"', '"passed"', '"total"', '"test_date"', '"packaging_checkpoint"', "}", "},"}, changed
    text = manifest.read_bytes().decode()
    assert '"target_modules": ["q_proj", "v_proj"],\r\n' in text  # inline arrays elsewhere stay inline
    assert "\r\n\r\n  \"soft_prompts\"" in text  # blank lines stay


def test_prepare_rewrite_keeps_crlf_and_foreign_preprocessing_keys(manifest):
    from expertkit.data.pipeline import prepare

    before = manifest.read_bytes()
    prepare(manifest)
    after = manifest.read_bytes()
    changed = _changed(before, after)
    assert changed and all(line.endswith("\r\n") for line in changed)
    head = before.split(b'"preprocessing"')[0]
    assert after.startswith(head)  # everything before the owned key is byte-identical
    assert after.split(b'"_comment": "Raw data in datasets/raw')[1].split(b'"evaluation"')[1] == before.split(b'"_comment": "Raw data in datasets/raw')[1].split(b'"evaluation"')[1]
    pre = json.loads(after)["training"]["dataset"]["preprocessing"]
    assert pre["by_source"] == {"hand": 0}


def test_set_path_adds_a_member_after_the_last_sibling(manifest):
    before = manifest.read_bytes()
    update_manifest(manifest, lambda raw: set_path(raw, "training.packaging_checkpoint", "weights/qwen3-0-6b/final"))
    assert sorted(_changed(before, manifest.read_bytes())) == sorted([
        "-    }\r\n", "+    },\r\n", '+    "packaging_checkpoint": "weights/qwen3-0-6b/final"\r\n',
    ])


@pytest.mark.parametrize("old, new", [
    ({"a": [1, 2]}, {"a": [1, 2, 3]}),
    ({"a": {"b": 1, "c": 2}}, {"a": {"c": 2}}),
    ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}),
    ({"a": {"b": 1}}, {"a": {}}),
    ({"a": 1, "b": 2}, {"b": 2}),
    ({"a": "x"}, {"a": "x", "b": {"c": [1, {"d": None}]}}),
])
def test_patch_reads_back_as_the_new_value(old, new):
    for text in (json.dumps(old, indent=2), json.dumps(old), json.dumps(old, indent=4).replace("\n", "\r\n")):
        assert json.loads(patch_json_text(text, old, new)) == new
