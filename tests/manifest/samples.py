"""Manifests for tests: a valid one (what `expert-cli new` writes) and ways to write them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from expertkit.scaffold.manifest import scaffold_manifest

_VALID = scaffold_manifest("expert-sql")


def valid_manifest(adapter: str = "dora") -> dict[str, Any]:
    """A fresh copy of the scaffolded manifest (valid; its datasets are missing -> warnings)."""
    return copy.deepcopy(_VALID) if adapter == "dora" else scaffold_manifest("expert-sql", adapter=adapter)


def write_manifest(directory: Path, data: Any, *, indent: int = 2) -> Path:
    path = directory / "manifest.json"
    path.write_text(json.dumps(data, indent=indent) + "\n")
    return path


def legacy_manifest() -> dict[str, Any]:
    """A schema 1.0 manifest: `base_model` plus root `adapters`."""
    return {
        "name": "expert-json",
        "version": "1.2.0",
        "schema_version": "1.0",
        "_comment": "written by an old tool",
        "base_model": {"name": "smollm2-135m-instruct", "quantization": "int4", "prompt_template": "chatml"},
        "adapters": [{"type": "lora", "path": "weights/adapter", "r": 16, "alpha": 32}],
        "capabilities": ["task:json_formatting"],
        "training": {"config": {"adapter_type": "lora", "rank": 16, "alpha": 32}},
    }
