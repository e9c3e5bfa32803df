"""`package`: contents, defaults, determinism, pickle refusal, source manifest update."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from expertkit.errors import PackageError
from expertkit.manifest.model import model_slug
from expertkit.packaging.build import build_package
from expertkit.packaging.digests import parse_digests, sha256_bytes
from expertkit.packaging.reader import open_package
from expertkit.packaging.verify import extract_package, require_intact
from tests.packaging.expert_builders import package_expert


def test_package_contents_and_filled_manifest(expert_dir, tiny_llama_dir):
    path = package_expert(expert_dir, include_tests=True)
    assert path.name == f"expert-demo-{model_slug(str(tiny_llama_dir))}.v0.1.0.expert"
    assert path.parent == expert_dir / "weights"
    pkg = open_package(path)
    assert sorted(pkg.names) == ["DIGESTS", "LICENSE", "README.md", "adapter_config.json", "adapter_model.safetensors",
                                 "manifest.json", "tests/test_cases.json"]
    require_intact(pkg)
    assert set(parse_digests(pkg.files["DIGESTS"])) == set(pkg.names) - {"DIGESTS"}
    manifest = pkg.manifest
    assert len(manifest["base_models"]) == 1
    adapter = manifest["base_models"][0]["adapters"][0]
    weights = pkg.files["adapter_model.safetensors"]
    assert adapter == {"type": "lora", "path": ".", "r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"],
                       "size_bytes": len(weights), "sha256": sha256_bytes(weights), "checkpoint_step": 7}
    # the base model digest is recorded in the package so install can check it
    assert len(manifest["base_models"][0]["sha256"]) == 64
    assert manifest["_comment"] == "kept by the rewriter"
    with tarfile.open(path) as tar:
        for info in tar.getmembers():
            assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
            assert info.mode == (0o755 if info.isdir() else 0o644)


def test_source_manifest_gets_adapter_and_checkpoint(expert_dir):
    package_expert(expert_dir)
    raw = json.loads((expert_dir / "manifest.json").read_text())
    adapter = raw["base_models"][0]["adapters"][0]
    assert adapter["path"].endswith("checkpoint-7") and adapter["checkpoint_step"] == 7
    assert raw["training"]["packaging_checkpoint"] == adapter["path"]
    assert raw["_comment"] == "kept by the rewriter"
    assert list(raw)[:5] == ["name", "version", "schema_version", "description", "_comment"]


def test_repackage_is_byte_identical(expert_dir, tmp_path):
    first = package_expert(expert_dir, output=tmp_path / "a.expert", include_tests=True)
    # the second run reads the manifest the first run updated, and a copy of the expert dir elsewhere
    second = package_expert(expert_dir, output=tmp_path / "b.expert", include_tests=True)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime


def test_default_weights_from_packaging_checkpoint(expert_dir):
    package_expert(expert_dir)  # records training.packaging_checkpoint
    result = build_package(expert_dir / "manifest.json")
    assert result.adapter.checkpoint_step == 7


def test_missing_final_weights_is_a_clear_error(expert_dir):
    with pytest.raises(PackageError, match="final"):
        build_package(expert_dir / "manifest.json")


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".pkl"])
def test_pickle_weights_refused(expert_dir, suffix, tmp_path):
    weights = tmp_path / "pickled"
    shutil.copytree(next((expert_dir / "weights").glob("*/checkpoint-7")), weights)
    (weights / f"adapter_model{suffix}").write_bytes(b"\x80\x04pickle")
    with pytest.raises(PackageError, match="pickle"):
        build_package(expert_dir / "manifest.json", weights=weights)
    with pytest.raises(PackageError, match="pickle"):
        build_package(expert_dir / "manifest.json", weights=weights / f"adapter_model{suffix}")


def test_include_tests_requires_the_file(expert_dir):
    (expert_dir / "tests" / "test_cases.json").unlink()
    with pytest.raises(PackageError, match="test_cases.json"):
        package_expert(expert_dir, include_tests=True)


def test_soft_prompts_and_grammar_are_packaged(expert_dir):
    import torch
    from safetensors.torch import save_file

    (expert_dir / "prompts").mkdir()
    save_file({"prompt_embeddings": torch.zeros(4, 8)}, str(expert_dir / "prompts" / "sp.safetensors"))
    (expert_dir / "grammar.gbnf").write_text('root ::= "SELECT"\n')
    raw = json.loads((expert_dir / "manifest.json").read_text())
    raw["soft_prompts"] = [{"name": "sp", "path": "prompts/sp.safetensors", "tokens": 4}]
    (expert_dir / "manifest.json").write_text(json.dumps(raw))
    pkg = open_package(package_expert(expert_dir))
    assert "soft_prompts/sp.safetensors" in pkg.names and "grammar.gbnf" in pkg.names
    assert pkg.manifest["soft_prompts"][0]["path"] == "soft_prompts/sp.safetensors"


def test_extract_package_loads_with_peft(expert_dir, tmp_path, tiny_llama_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dest = extract_package(package_expert(expert_dir), tmp_path / "out")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), dest)
    assert "default" in model.peft_config


def test_cli_package(cli, expert_dir):
    res = cli("package", "--manifest", expert_dir / "manifest.json", "--weights",
              next((expert_dir / "weights").glob("*/checkpoint-7")), "--json")
    assert res.exit_code == 0, res
    payload = json.loads(res.stdout)
    assert payload["adapter"]["checkpoint_step"] == 7 and len(payload["sha256"]) == 64


def test_cli_package_bad_model_exit_2(cli, expert_dir):
    res = cli("package", "--manifest", expert_dir / "manifest.json", "--model", "nope")
    assert res.exit_code == 2 and "--model" in res.stderr and "Traceback" not in res.output
