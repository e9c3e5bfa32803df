"""The manifest model and the exported JSON Schema agree on types: the same cases go to both."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from expertkit.manifest.loader import parse_manifest
from expertkit.manifest.schema import manifest_json_schema
from tests.manifest.samples import valid_manifest

# (JSON path, value, valid?) — the strings are what a hand-written manifest gets wrong
CASES = [
    ("training.config.rank", "12", False), ("training.config.rank", 12, True), ("training.config.rank", 12.5, False),
    ("training.config.fp16", "yes", False), ("training.config.fp16", 1, False), ("training.config.fp16", True, True),
    ("training.config.epochs", "3", False), ("training.config.epochs", 3, True), ("training.config.epochs", 2.5, True),
    ("training.config.epochs", True, False),
    ("constraints.load_order", "6", False), ("constraints.load_order", 6, True),
    ("training.config.learning_rate", "1e-4", False), ("training.config.learning_rate", 0.0001, True),
    ("training.config.packing", "false", False), ("training.config.batch_size", "4", False),
    ("training.dataset.seed", "42", False), ("base_models[0].quantization", "int3", False),
    ("base_models[0].quantization", "int4", True), ("capabilities", "task:sql", False), ("name", 5, False),
    ("training.config.max_seq_length", None, False), ("training.decoding.temperature", "0.2", False),
]


def with_value(path: str, value):
    data = copy.deepcopy(valid_manifest())
    node, parts = data, path.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[parts[-1]] = value
    return data


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(manifest_json_schema())


@pytest.mark.parametrize("path, value, valid", CASES, ids=[f"{p}={json.dumps(v)}" for p, v, _ in CASES])
def test_model_and_schema_agree(validator, path, value, valid):
    data = with_value(path, value)
    model, _, problems = parse_manifest(json.loads(json.dumps(data)), None, check_files=False)
    type_errors = [p for p in problems if p.severity == "error" and p.path == path]
    schema_ok = validator.is_valid(data)
    assert schema_ok is valid, f"schema: {list(validator.iter_errors(data))[:1]}"
    assert (not type_errors) is valid, type_errors


def test_a_quoted_number_says_so(tmp_path, cli):
    (tmp_path / "manifest.json").write_text(json.dumps(with_value("training.config.rank", "12")))
    res = cli("validate", "--manifest", tmp_path / "manifest.json")
    assert res.exit_code == 2 and 'training.config.rank: "12" is a string (expected a valid integer, without quotes)' in res.stdout


def test_a_hash_comment_says_json_has_none_and_that_comment_keys_are_kept(tmp_path, cli):
    from tests.manifest.test_guide_template import guide_template_text

    (tmp_path / "manifest.json").write_text(guide_template_text())
    res = cli("validate", "--manifest", tmp_path / "manifest.json")
    assert res.exit_code == 2
    assert "manifest.json:22:37: a `#` comment, but JSON has no comments" in res.stderr
    assert "_comment" in res.stderr and "keeps" in res.stderr
