"""Builders shared by the packaging and registry tests: a real PEFT LoRA adapter and expert dirs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


def make_lora_adapter(model_dir: Path, out_dir: Path) -> Path:
    """Apply a real PEFT LoRA to the tiny model and save it (adapter_config.json + safetensors)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    peft_model.save_pretrained(out_dir)
    return out_dir


def manifest_dict(name: str, base_model: Path, *, version: str = "0.1.0", requires: list[str] | None = None,
                  incompatible_with: list[str] | None = None, sha256: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "schema_version": "2.0",
        "description": f"{name} for tests",
        "_comment": "kept by the rewriter",
        "base_models": [{"name": str(base_model), "sha256": sha256, "prompt_template": "chatml", "adapters": []}],
        "constraints": {"requires": requires or [], "incompatible_with": incompatible_with or []},
        "capabilities": ["task:testing"],
        "training": {"config": {"adapter_type": "lora", "rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}},
    }


def make_expert_dir(root: Path, name: str, base_model: Path, adapter: Path, **manifest_kw: Any) -> Path:
    """An expert directory: manifest.json, README.md, LICENSE, tests/test_cases.json, weights/<slug>/checkpoint-7/."""
    from expertkit.manifest.model import model_slug

    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps(manifest_dict(name, base_model, **manifest_kw), indent=2) + "\n")
    (root / "README.md").write_text(f"# {name}\n")
    (root / "LICENSE").write_text("Apache-2.0\n")
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_cases.json").write_text(json.dumps({"test_cases": [{"id": "t1", "input": "hi", "expected_output": "hi"}]}))
    weights = root / "weights" / model_slug(str(base_model)) / "checkpoint-7"
    if not weights.exists():
        shutil.copytree(adapter, weights)
    return root


def package_expert(root: Path, output: Path | None = None, **kw: Any) -> Path:
    from expertkit.manifest.model import model_slug
    from expertkit.packaging.build import build_package

    manifest = json.loads((root / "manifest.json").read_text())
    weights = root / "weights" / model_slug(manifest["base_models"][0]["name"]) / "checkpoint-7"
    return build_package(root / "manifest.json", weights=weights, output=output, **kw).path


def build_expert(tmp: Path, name: str, base_model: Path, adapter: Path, *, version: str = "0.1.0", key: Path | None = None,
                 out_dir: Path | None = None, **manifest_kw: Any) -> Path:
    """A packaged (and, with ``key``, signed) expert: `<out_dir>/<name>-<slug>.v<version>.expert`."""
    from expertkit.manifest.model import model_slug
    from expertkit.packaging.signing import sign_package

    root = make_expert_dir(tmp / f"{name}-{version}", name, base_model, adapter, version=version, **manifest_kw)
    out = (out_dir or tmp) / f"{name}-{model_slug(str(base_model))}.v{version}.expert"
    path = package_expert(root, output=out, force=True)  # tests rebuild the same name over a signed one
    if key is not None:
        sign_package(path, key)
    return path
