"""Turn a manifest's `base_models[].name` into a local model directory.

Order: (1) a built-in alias (`smollm2-135m-instruct`; converted from its GGUF on first use),
(2) a name registered with `expert-cli models import`, (3) a local HF model directory path.
Nothing is ever fetched from a hub. A name that matches none of these is a ModelNotFoundError
that lists what was tried.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from expertkit.errors import EnvironmentProblem, ModelNotFoundError
from expertkit.models.aliases import ALIASES, alias_dir, find_alias, is_ready, prepare_alias
from expertkit.models.gguf import Progress
from expertkit.models.index import read_index


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as written in the manifest
    path: Path  # local HF model directory (config.json, *.safetensors, tokenizer files)
    source: str  # "alias" | "imported" | "path"


def resolve_model(name: str, *, prepare: bool = True, progress: Progress | None = None) -> ResolvedModel:
    """Resolve ``name``; an unprepared alias is converted now unless ``prepare=False`` (then EnvironmentProblem)."""
    tried = []
    alias = find_alias(name)
    if alias is not None:
        if not is_ready(alias_dir(alias)):
            if not prepare:
                raise EnvironmentProblem(
                    f"base model {alias.name!r} is not prepared yet", hint=f"run `expert-cli models prepare {alias.name}` (one time, ~30-60 s)"
                )
            prepare_alias(alias, progress=progress)
        return ResolvedModel(name, alias_dir(alias), "alias")
    tried.append(f"built-in aliases ({', '.join(ALIASES)})")

    entry = read_index()["models"].get(name)
    if entry and entry.get("source") == "imported":
        path = Path(entry["path"])
        if not is_ready(path):
            raise EnvironmentProblem(
                f"imported model {name!r} points at {path}, which no longer holds a model",
                hint=f"re-import it with `expert-cli models import PATH --name {shlex.quote(name)} --force`",
            )
        return ResolvedModel(name, path, "imported")
    tried.append("models imported with `expert-cli models import`")

    path = Path(name).expanduser()
    tried.append(f"a local model directory {path}")
    if (path / "config.json").is_file():
        return ResolvedModel(name, path.resolve(), "path")
    hint = "import it with `expert-cli models import PATH --name NAME`, or see `expert-cli models list`"
    if path.is_file() and path.suffix.lower() == ".gguf":
        hint = f"a .gguf file must be converted first: `expert-cli models import {path} --name NAME`"
    raise ModelNotFoundError(f"base model {name!r} not found; tried: " + "; ".join(tried), hint=hint)
