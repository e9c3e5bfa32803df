"""A broken adapter never gets packaged, verified or installed; package writes nothing it can't finish."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from expertkit.manifest.model import model_slug
from expertkit.packaging.archive import archive_bytes
from expertkit.packaging.digests import DIGESTS_NAME, render_digests, sha256_bytes
from expertkit.packaging.reader import open_package
from expertkit.registry.store import read_registry
from tests.packaging.expert_builders import package_expert


def weights_of(expert_dir):
    name = json.loads((expert_dir / "manifest.json").read_text())["base_models"][0]["name"]
    return expert_dir / "weights" / model_slug(name) / "checkpoint-7"


def package_args(expert_dir, out):
    return ("package", "--manifest", expert_dir / "manifest.json", "--weights", weights_of(expert_dir), "--output", out)


def written(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_truncated_safetensors_is_refused_by_package_before_writing(cli, expert_dir, tmp_path):
    weights = weights_of(expert_dir) / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    before = (expert_dir / "manifest.json").read_bytes()
    res = cli(*package_args(expert_dir, tmp_path / "dist" / "x.expert"))
    assert res.exit_code == 2, res
    assert "truncated" in res.stderr and "adapter_model.safetensors" in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "dist").exists() and (expert_dir / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c.update(r=8), "rank 4, adapter_config.json says r=8"),
    (lambda c: c.update(target_modules=["k_proj"]), "not among adapter_config.json target_modules"),
    (lambda c: c.update(use_dora=True), "says DoRA"),
])
def test_config_that_does_not_describe_the_tensors_is_refused(cli, expert_dir, tmp_path, edit, expected):
    config_path = weights_of(expert_dir) / "adapter_config.json"
    config = json.loads(config_path.read_text())
    edit(config)
    config_path.write_text(json.dumps(config))
    res = cli(*package_args(expert_dir, tmp_path / "x.expert"))
    assert res.exit_code == 2 and expected in res.stderr, res
    assert not (tmp_path / "x.expert").exists()


def damaged_but_consistent(path):
    """The package a pre-check `package` made from a truncated adapter: digests and manifest agree with it."""
    files = dict(open_package(path).files)
    files["adapter_model.safetensors"] = files["adapter_model.safetensors"][:1000]
    manifest = json.loads(files["manifest.json"])
    manifest["base_models"][0]["adapters"][0]["sha256"] = sha256_bytes(files["adapter_model.safetensors"])
    files["manifest.json"] = json.dumps(manifest).encode()
    del files[DIGESTS_NAME]
    files[DIGESTS_NAME] = render_digests(files)
    path.write_bytes(archive_bytes(files))
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    return path


def test_verify_and_install_refuse_a_truncated_adapter(cli, expert_dir, expert_home):
    path = damaged_but_consistent(package_expert(expert_dir))
    res = cli("verify", path)
    assert res.exit_code == 1 and "tensors" in res.stdout and "NOT verified" in res.stdout, res
    assert cli("keygen").exit_code == 0
    res = cli("sign", "--expert", path)
    assert res.exit_code == 2 and "truncated" in res.stderr and "SIGNATURE" not in open_package(path).files
    res = cli("install", path, "--allow-unsigned")
    assert res.exit_code != 0 and "truncated" in res.stderr, res
    assert read_registry()["experts"] == {} and not (expert_home / "experts" / "expert-demo").exists()


def test_signed_package_is_not_replaced_without_force(cli, expert_dir, tmp_path):
    out = tmp_path / "demo.expert"
    assert cli(*package_args(expert_dir, out)).exit_code == 0
    assert cli("keygen").exit_code == 0
    assert cli("sign", out).exit_code == 0
    signed = out.read_bytes()
    res = cli(*package_args(expert_dir, out))
    assert res.exit_code == 2 and "signed" in res.stderr and "--force" in res.stderr, res
    assert out.read_bytes() == signed
    res = cli(*package_args(expert_dir, out), "--force")
    assert res.exit_code == 0 and "SIGNATURE" not in open_package(out).files


def test_manifest_records_paths_relative_to_itself(cli, expert_dir, tmp_path):
    outside = shutil.copytree(weights_of(expert_dir), tmp_path / "elsewhere" / "final")
    res = cli("package", "--manifest", expert_dir / "manifest.json", "--weights", outside, "--output", tmp_path / "x.expert")
    assert res.exit_code == 0, res
    manifest = json.loads((expert_dir / "manifest.json").read_text())
    recorded = manifest["training"]["packaging_checkpoint"]
    assert recorded == "../elsewhere/final" and manifest["base_models"][0]["adapters"][0]["path"] == recorded
    assert (expert_dir / recorded).resolve() == outside.resolve()


def test_read_only_manifest_folder_is_refused_before_writing(cli, expert_dir, tmp_path, monkeypatch):
    # root ignores permission bits, so make the folder read-only the way access(2) reports it
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == str(expert_dir) else real_access(p, mode, **kw))
    if os.geteuid() != 0:
        expert_dir.chmod(0o555)
    try:
        res = cli(*package_args(expert_dir, tmp_path / "dist" / "x.expert"))
    finally:
        expert_dir.chmod(0o755)
    assert res.exit_code == 2 and "not writable" in res.stderr, res
    assert not (tmp_path / "dist").exists() or written(tmp_path / "dist") == []
