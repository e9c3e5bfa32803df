"""`dataset prepare` writes one set: Ctrl-C never leaves splits from two runs, and a mixed set is detected."""

from __future__ import annotations

import json
import os
import signal

import pytest

from expertkit.data.pipeline import prepare
from expertkit.data.staging import check_prepared
from expertkit.manifest.loader import load_manifest
from tests.data.builders import sql_examples

SPLIT_FILES = ("train.jsonl", "validation.jsonl", "test.jsonl")


def snapshot(manifest):
    root = manifest.parent / "datasets"
    seed = json.loads(manifest.read_text())["training"]["dataset"]["preprocessing"]["seed"]
    return seed, {name: (root / name).read_bytes() for name in SPLIT_FILES}


def test_ctrl_c_while_the_splits_are_replaced_leaves_one_whole_set(make_expert, monkeypatch):
    manifest = make_expert({"a.jsonl": sql_examples(300)})
    prepare(manifest, seed=1)
    old = snapshot(manifest)
    real_replace = os.replace

    def interrupted_at_test_split(src, dst, *a, **kw):
        if str(dst).endswith("test.jsonl"):
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C right here
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", interrupted_at_test_split)
    with pytest.raises(KeyboardInterrupt):
        prepare(manifest, seed=2)
    monkeypatch.setattr(os, "replace", real_replace)
    seed, files = snapshot(manifest)
    assert seed in (1, 2)
    if seed == 1:
        assert files == old[1]
    else:
        assert all(files[name] != old[1][name] for name in SPLIT_FILES)
    train = set((manifest.parent / "datasets/train.jsonl").read_text().splitlines())
    test = set((manifest.parent / "datasets/test.jsonl").read_text().splitlines())
    assert not train & test
    assert check_prepared(load_manifest(manifest, check_files=False)) == []
    assert not list((manifest.parent / "datasets").rglob("*.staged"))


def test_ctrl_c_while_staging_keeps_the_old_set_and_no_temp_files(make_expert, monkeypatch):
    manifest = make_expert({"a.jsonl": sql_examples(300)})
    prepare(manifest, seed=1)
    old = snapshot(manifest)
    real_fsync, calls = os.fsync, []

    def interrupted_on_third_write(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", interrupted_on_third_write)
    with pytest.raises(KeyboardInterrupt):
        prepare(manifest, seed=2)
    assert snapshot(manifest) == old
    assert not [p for p in (manifest.parent / "datasets").rglob("*") if p.name.startswith(".")]


def test_a_mixed_set_is_detected(make_expert, tmp_path, cli):
    manifest = make_expert({"a.jsonl": sql_examples(300)})
    prepare(manifest, seed=1)
    (tmp_path / "keep").write_bytes((manifest.parent / "datasets/test.jsonl").read_bytes())
    prepare(manifest, seed=2)
    (manifest.parent / "datasets/test.jsonl").write_bytes((tmp_path / "keep").read_bytes())  # test from run 1
    [problem] = check_prepared(load_manifest(manifest, check_files=False))
    assert "test split test.jsonl differs" in problem and "dataset prepare" in problem
    res = cli("validate", "--manifest", manifest, "--json")
    assert any("differs from what the last prepare wrote" in w["message"] for w in json.loads(res.stdout)["warnings"])
