"""The expert directory's conventions (manifest/layout.py): one answer for every command."""

from __future__ import annotations

import pytest

from expertkit.errors import UsageError
from expertkit.manifest.layout import (
    default_adapter_dir,
    grammar_path,
    package_path,
    pick_base_model,
    run_dir,
)
from expertkit.manifest.loader import load_manifest
from expertkit.manifest.model import model_slug
from tests.manifest.samples import valid_manifest, write_manifest


def _loaded(tmp_path, **decoding):
    data = valid_manifest()
    data["base_models"].append({**data["base_models"][0], "name": "Qwen3-0.6B"})
    data["training"].setdefault("decoding", {}).update(decoding)
    return load_manifest(write_manifest(tmp_path, data), check_files=False)


def test_pick_base_model_by_name_slug_or_first(tmp_path):
    loaded = _loaded(tmp_path)
    assert pick_base_model(loaded, None) is loaded.model.base_models[0]
    assert pick_base_model(loaded, "qwen3-0-6b").name == "Qwen3-0.6B"


def test_pick_base_model_error_names_the_parameter_not_a_flag(tmp_path):
    with pytest.raises(UsageError) as info:
        pick_base_model(_loaded(tmp_path), "nope")
    assert info.value.param == "model" and "--" not in info.value.message
    assert "'nope'" in info.value.message and "Qwen3-0.6B" in info.value.message


def test_run_and_default_adapter_dirs(tmp_path):
    loaded = _loaded(tmp_path)
    first = loaded.model.base_models[0].name
    assert run_dir(loaded, first) == tmp_path / "weights" / model_slug(first)
    assert run_dir(loaded, first, tmp_path / "out") == tmp_path / "out" / model_slug(first)
    assert default_adapter_dir(loaded) == tmp_path / "weights" / model_slug(first) / "final"
    assert default_adapter_dir(loaded, "Qwen3-0.6B") == tmp_path / "weights" / "qwen3-0-6b" / "final"
    assert package_path(loaded, "Qwen3-0.6B") == tmp_path / "weights" / f"expert-sql-qwen3-0-6b.v{loaded.model.version}.expert"
    loaded.model.training.packaging_checkpoint = "weights/x/checkpoint-7"
    assert default_adapter_dir(loaded, "Qwen3-0.6B") == tmp_path / "weights" / "x" / "checkpoint-7"


def test_grammar_path_declared_beside_or_none(tmp_path):
    assert grammar_path(_loaded(tmp_path).model, tmp_path) is None
    (tmp_path / "grammar.gbnf").write_text('root ::= "x"\n')
    assert grammar_path(_loaded(tmp_path).model, tmp_path) == tmp_path / "grammar.gbnf"
    declared = _loaded(tmp_path, grammar_file="g/other.gbnf")
    assert grammar_path(declared.model, tmp_path) == tmp_path / "g" / "other.gbnf"  # even when missing: the caller reports it
