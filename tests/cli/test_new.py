"""`expert-cli new` through the real entry point, then `validate` on what it made."""

from __future__ import annotations

import json

import pytest

from expertkit.scaffold.create import iter_templates


@pytest.mark.parametrize("adapter", ["dora", "lora", "ia3"])
def test_new_then_validate_is_green_for_each_adapter(tmp_path, cli, adapter):
    res = cli("new", "sql", "--adapter", adapter, cwd=tmp_path)
    assert res.exit_code == 0, res
    assert "created expert-sql" in res.stdout
    expert = tmp_path / "expert-sql"
    res = cli("validate", "--manifest", "manifest.json", cwd=expert)
    assert res.exit_code == 0, res
    assert "expert-sql 0.1.0 is valid" in res.stdout
    payload = json.loads(cli("validate", "--manifest", "manifest.json", "--json").stdout)
    assert payload["valid"] is True and payload["errors"] == []
    # only the datasets `dataset prepare` will write are missing
    assert {w["path"] for w in payload["warnings"]} == {
        "training.dataset.path", "training.dataset.validation_path", "training.dataset.test_path"}
    config = json.loads((expert / "manifest.json").read_text())["training"]["config"]
    assert config["adapter_type"] == adapter


def test_new_lists_every_file_and_next_steps(tmp_path, cli):
    res = cli("new", "expert-sql", cwd=tmp_path)
    assert res.exit_code == 0
    for rel, _ in iter_templates():
        assert f"  {rel}\n" in res.stdout
    assert "  manifest.json\n" in res.stdout
    assert "expert-cli validate --manifest manifest.json" in res.stdout


def test_new_json_output(tmp_path, cli):
    res = cli("new", "sql", "--dir", tmp_path / "here", "--json")
    assert res.exit_code == 0, res
    payload = json.loads(res.stdout)
    assert payload["name"] == "expert-sql" and payload["path"] == str(tmp_path / "here")
    assert "manifest.json" in payload["files"] and payload["overwritten"] == []
    assert (tmp_path / "here" / "manifest.json").is_file()


def test_new_with_base_model_and_dir(tmp_path, cli):
    res = cli("new", "json-fix", "--dir", "experts/jf", "--base-model", "qwen3-0.6b", cwd=tmp_path)
    assert res.exit_code == 0, res
    manifest = json.loads((tmp_path / "experts" / "jf" / "manifest.json").read_text())
    assert manifest["name"] == "expert-json-fix"
    assert manifest["base_models"][0]["name"] == "qwen3-0.6b"
    assert "qwen3-0.6b" in (tmp_path / "experts" / "jf" / "README.md").read_text()


@pytest.mark.parametrize("name", ["SQL", "expert-", "sql_gen", "expert--x", "a b", "ünïcode", ""])
def test_bad_names_exit_2_with_one_line(tmp_path, cli, name):
    res = cli("new", name, cwd=tmp_path)
    assert res.exit_code == 2, res
    assert res.stderr.startswith("error: name ") and "is not allowed" in res.stderr
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_bad_adapter_exits_2(tmp_path, cli):
    res = cli("new", "sql", "--adapter", "qlora", cwd=tmp_path)
    assert res.exit_code == 2
    assert "--adapter: adapter type 'qlora' is not one of dora, lora, ia3" in res.stderr


def test_refuses_non_empty_dir_without_force(tmp_path, cli):
    assert cli("new", "sql", cwd=tmp_path).exit_code == 0
    manifest = tmp_path / "expert-sql" / "manifest.json"
    manifest.write_text("{}")
    res = cli("new", "sql", cwd=tmp_path)
    assert res.exit_code == 2
    assert "is not empty; refusing to overwrite it" in res.stderr and "--force" in res.stderr
    assert manifest.read_text() == "{}"
    res = cli("new", "sql", "--force", cwd=tmp_path)
    assert res.exit_code == 0
    assert "manifest.json (overwritten)" in res.stdout
    assert json.loads(manifest.read_text())["name"] == "expert-sql"


def test_dir_that_is_a_file_exits_2(tmp_path, cli):
    (tmp_path / "f").write_text("x")
    res = cli("new", "sql", "--dir", tmp_path / "f")
    assert res.exit_code == 2
    assert "exists and is not a directory" in res.stderr
