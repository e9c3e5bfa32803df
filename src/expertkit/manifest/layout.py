"""The expert directory's conventions, owned here once: which base model a command works on,
where training puts its weights and which adapter is the default, and which grammar file applies.

Every command (train, test, ask, package, validate) asks these functions instead of repeating
the rule, so a change of layout is one edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from expertkit.errors import UsageError
from expertkit.manifest.model import BaseModelSpec, Manifest, model_slug

if TYPE_CHECKING:
    from expertkit.manifest.loader import LoadedManifest

WEIGHTS_DIR = "weights"  # relative to the manifest: training runs and built packages
FINAL_DIR = "final"  # the adapter a finished run leaves in its run directory
GRAMMAR_NAME = "grammar.gbnf"  # the grammar beside the manifest, used when none is named


def pick_base_model(loaded: LoadedManifest, name: str | None) -> BaseModelSpec:
    """The base model entry called ``name`` (or the first); UsageError (param ``model``) when absent."""
    try:
        return loaded.model.base_model(name)
    except KeyError:
        names = ", ".join(spec.name for spec in loaded.model.base_models)
        raise UsageError(f"base model {name!r} is not one of the manifest's base_models ({names})", param="model") from None


def run_dir(loaded: LoadedManifest, model_name: str, output: Path | None = None) -> Path:
    """Where training for ``model_name`` writes: <output or weights/>/<model-slug>."""
    return (output if output is not None else loaded.resolve(WEIGHTS_DIR)) / model_slug(model_name)


def default_adapter_dir(loaded: LoadedManifest, model_name: str | None = None) -> Path:
    """training.packaging_checkpoint when set, else weights/<model-slug>/final (relative to the manifest)."""
    chosen = loaded.model.training.packaging_checkpoint
    if chosen:
        return loaded.resolve(chosen)
    return run_dir(loaded, pick_base_model(loaded, model_name).name) / FINAL_DIR


def package_path(loaded: LoadedManifest, model_name: str) -> Path:
    """Where `package` writes by default: weights/<name>-<model-slug>.v<version>.expert."""
    m = loaded.model
    return loaded.resolve(WEIGHTS_DIR) / f"{m.name}-{model_slug(model_name)}.v{m.version}.expert"


def declared_grammar(manifest: Manifest, base_dir: Path) -> Path | None:
    """training.decoding.grammar_file resolved against ``base_dir`` (whether or not it exists)."""
    rel = manifest.training.decoding.grammar_file
    if not rel:
        return None
    p = Path(rel)
    return p if p.is_absolute() else base_dir / p


def grammar_path(manifest: Manifest, base_dir: Path) -> Path | None:
    """The grammar that applies: the declared grammar_file, else grammar.gbnf beside the manifest
    when that file exists, else None. The declared file is returned even when missing, so the
    caller reports it instead of silently falling back."""
    declared = declared_grammar(manifest, base_dir)
    if declared is not None:
        return declared
    beside = base_dir / GRAMMAR_NAME
    try:
        return beside if beside.is_file() else None
    except (OSError, ValueError):  # an unusable directory name
        return None
