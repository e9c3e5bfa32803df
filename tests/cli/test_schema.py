"""`expert-cli schema` prints a draft 2020-12 JSON Schema that accepts real manifests."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from tests.manifest.samples import valid_manifest
from tests.manifest.test_guide_template import filled_guide_template


@pytest.fixture
def validator(cli) -> Draft202012Validator:
    res = cli("schema")
    assert res.exit_code == 0, res
    schema = json.loads(res.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_scaffolded_manifest_matches_the_schema(tmp_path, cli, validator):
    assert cli("new", "sql", cwd=tmp_path).exit_code == 0
    manifest = json.loads((tmp_path / "expert-sql" / "manifest.json").read_text())
    assert list(validator.iter_errors(manifest)) == []


@pytest.mark.parametrize("adapter", ["lora", "ia3"])
def test_other_adapters_match_the_schema(validator, adapter):
    assert list(validator.iter_errors(valid_manifest(adapter))) == []


def test_guide_template_matches_the_schema(validator):
    assert list(validator.iter_errors(filled_guide_template())) == []


def test_schema_rejects_a_manifest_without_name(validator):
    data = valid_manifest()
    del data["name"]
    errors = list(validator.iter_errors(data))
    assert any("'name' is a required property" in e.message for e in errors)


def test_schema_rejects_wrong_types(validator):
    data = valid_manifest()
    data["training"]["config"]["adapter_type"] = "qlora"
    assert list(validator.iter_errors(data))


def test_schema_output_is_redirectable(tmp_path, cli):
    res = cli("schema")
    (tmp_path / "s.json").write_text(res.stdout)
    assert json.loads((tmp_path / "s.json").read_text())["title"]
