"""The scaffold library: every file it writes, name rules, template conventions."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from expertkit.errors import UsageError
from expertkit.manifest.loader import inspect_manifest
from expertkit.scaffold import create_expert, normalize_name, scaffold_manifest
from expertkit.scaffold.create import iter_templates, render, template_root

EXPECTED_FILES = {
    "manifest.json", "README.md", "LICENSE", "preprocess.py", ".gitignore",
    "datasets/raw/.gitkeep", "datasets/processed/.gitkeep", "weights/.gitkeep",
    "scripts/.gitkeep", "docs/.gitkeep",
    "tests/test_expert.py", "tests/test_hard.py", "tests/test_comparison.py", "tests/test_cases.json",
}


@pytest.fixture
def expert(tmp_path) -> Path:
    return create_expert("sql", tmp_path / "expert-sql").path


@pytest.mark.parametrize("given, full", [("sql", "expert-sql"), ("expert-sql", "expert-sql"), ("json-fix2", "expert-json-fix2"),
                                         (" sql ", "expert-sql")])
def test_normalize_name(given, full):
    assert normalize_name(given) == full


@pytest.mark.parametrize("bad", ["SQL", "expert-", "a_b", "x--y", "x-", "expert-s ql", ""])
def test_normalize_name_rejects(bad):
    with pytest.raises(UsageError) as info:
        normalize_name(bad)
    assert info.value.exit_code == 2 and "is not allowed" in info.value.message


def test_the_guide_tree_is_created(tmp_path, expert):
    result = create_expert("other", tmp_path / "other")
    assert set(result.files) == EXPECTED_FILES
    written = {str(p.relative_to(expert)) for p in expert.rglob("*") if p.is_file()}
    assert written == EXPECTED_FILES
    for d in ("datasets/raw", "datasets/processed", "weights", "tests", "scripts", "docs"):
        assert (expert / d).is_dir()


def test_every_template_is_written(expert):
    """Generic copy: whatever other issues put under templates/ appears in the expert."""
    for rel, template in iter_templates():
        assert (expert / rel).read_bytes() == render(template.read_bytes(), _values()), rel


def _values() -> dict[str, str]:
    return {"name": "expert-sql", "short_name": "sql", "base_model": "smollm2-135m-instruct",
            "adapter_type": "dora", "version": "0.1.0", "python": Path(sys.executable).as_posix()}


def test_no_placeholder_left_unfilled(expert):
    for path in expert.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for key in _values():
                assert "${" + key + "}" not in text, path


def test_manifest_is_valid_as_created(expert):
    loaded, problems = inspect_manifest(expert / "manifest.json")
    assert loaded is not None
    assert [p for p in problems if p.severity == "error"] == []
    assert {p.path for p in problems} == {"training.dataset.path", "training.dataset.validation_path", "training.dataset.test_path"}
    m = loaded.model
    assert m.name == "expert-sql" and m.version == "0.1.0" and m.schema_version == "2.0"
    assert m.base_models[0].name == "smollm2-135m-instruct" and m.base_models[0].prompt_template == "chatml"
    assert m.training.config.adapter_type == "dora" and (m.training.config.rank, m.training.config.alpha) == (12, 24)
    assert m.training.dataset.field_mapping == {"instruction": "instruction", "input": "input", "response": "output"}
    assert m.capabilities == ["task:sql", "language:en"]
    assert m.constraints.load_order == 6
    assert m.limitations and m.license == "Apache-2.0"


@pytest.mark.parametrize("adapter, rank, alpha", [("dora", 12, 24), ("lora", 16, 32), ("ia3", None, None)])
def test_adapter_settings(adapter, rank, alpha):
    config = scaffold_manifest("expert-sql", adapter=adapter)["training"]["config"]
    assert config["adapter_type"] == adapter
    assert config.get("rank") == rank and config.get("alpha") == alpha
    if adapter == "ia3":
        assert set(config["feedforward_modules"]) <= set(config["target_modules"])
    else:
        assert "feedforward_modules" not in config


def test_gitignore_ignores_weights_and_processed(expert):
    lines = (expert / ".gitignore").read_text().splitlines()
    assert "weights/" in lines and "datasets/processed/" in lines


def test_license_is_apache_2(expert):
    text = (expert / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_readme_names_the_expert_and_the_commands(expert):
    text = (expert / "README.md").read_text()
    assert text.startswith("# expert-sql\n")
    for command in ("expert-cli validate", "expert-cli dataset prepare", "expert-cli train", "expert-cli test", "expert-cli package"):
        assert command in text


@pytest.mark.parametrize("script", ["preprocess.py", "tests/test_expert.py", "tests/test_hard.py", "tests/test_comparison.py"])
def test_scripts_are_executable_python_naming_the_expert_and_cli(expert, script):
    """Their content belongs to the data and evaluation issues; the scaffold's promise is a
    runnable script for this expert that points at the `expert-cli` command doing the work."""
    path = expert / script
    text = path.read_text()
    assert "expert-sql" in text and "expert-cli" in text
    assert text.startswith("#!/usr/bin/env python3\n")
    assert path.stat().st_mode & stat.S_IXUSR
    compile(text, str(path), "exec")


def test_test_cases_json_is_the_guides_shape(expert):
    data = json.loads((expert / "tests" / "test_cases.json").read_text())
    assert data["test_cases"] == []
    assert set(data["_example"]) == {"id", "name", "input", "expected_output", "description", "category"}
    assert "expert-sql" in data["_comment"]


def test_keep_files_are_empty(expert):
    for rel in ("datasets/raw/.gitkeep", "datasets/processed/.gitkeep", "weights/.gitkeep", "scripts/.gitkeep", "docs/.gitkeep"):
        assert (expert / rel).read_bytes() == b""


def test_files_are_readable_by_others(expert):
    for name in ("manifest.json", "README.md", "LICENSE"):
        assert stat.S_IMODE((expert / name).stat().st_mode) == 0o644


def test_local_base_model_directory_becomes_absolute(tmp_path, monkeypatch):
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    result = create_expert("sql", "out", base_model="models/tiny")
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["base_models"][0]["name"] == str((tmp_path / "models" / "tiny").resolve())


def test_force_keeps_unrelated_files(tmp_path):
    dest = tmp_path / "e"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        create_expert("sql", dest)
    result = create_expert("sql", dest, force=True)
    assert (dest / "notes.txt").read_text() == "mine"
    assert result.overwritten == []


def test_render_replaces_only_known_placeholders():
    data = b"${name} $name ${unknown} $$ ${short_name}"
    assert render(data, _values()) == b"expert-sql $name ${unknown} $$ sql"
    assert render(b"\xff\xfe${name}", _values()) == b"\xff\xfe${name}"  # binary passes through


def test_templates_have_no_real_dotfiles():
    """Packaging drops dotfiles; the `dot-` prefix convention stands in for them."""
    def walk(node):
        for entry in node.iterdir():
            assert not entry.name.startswith("."), entry.name
            if entry.is_dir():
                walk(entry)

    walk(template_root())


def test_existing_empty_directory_is_used(tmp_path):
    (tmp_path / "empty").mkdir()
    result = create_expert("sql", tmp_path / "empty")
    assert (tmp_path / "empty" / "manifest.json").is_file() and result.overwritten == []
