"""`expert-cli new`: lay out a new expert directory as the guide's Step 1 describes.

Everything except manifest.json comes from ``templates/`` (package data), copied generically
so a template's content can change without touching this code. Template conventions:

- Every file under ``templates/`` is copied to the same relative path in the new expert.
- A path component starting with ``dot-`` becomes ``.``: ``dot-gitignore`` -> ``.gitignore``,
  ``datasets/raw/dot-gitkeep`` -> ``datasets/raw/.gitkeep`` (packaging drops real dotfiles).
- In text files, ``${key}`` is replaced for the keys of :data:`PLACEHOLDERS` only
  (``${name}`` = expert-sql, ``${short_name}`` = sql, ``${base_model}``, ``${adapter_type}``,
  ``${version}``, ``${python}`` = the interpreter running expert-cli, which has expertkit); any other ``$`` text, including unknown ``${...}``, is copied unchanged.
  Files that aren't UTF-8 text are copied byte for byte.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from expertkit import atomic
from expertkit.errors import UsageError
from expertkit.manifest.model import NAME_PATTERN
from expertkit.scaffold.manifest import ADAPTER_TYPES, DEFAULT_BASE_MODEL, scaffold_manifest

PLACEHOLDERS = ("name", "short_name", "base_model", "adapter_type", "version", "python")
_PLACEHOLDER_RE = re.compile(r"\$\{(" + "|".join(PLACEHOLDERS) + r")\}")
DOT_PREFIX = "dot-"


@dataclass
class ScaffoldResult:
    """What `create_expert` made: the directory and every file written (relative paths)."""

    name: str
    path: Path
    files: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)


def normalize_name(name: str) -> str:
    """`sql` -> `expert-sql`; `expert-sql` stays. Raises `UsageError` for anything else invalid."""
    given = name.strip()
    full = given if given.startswith("expert-") else f"expert-{given}"
    if not re.fullmatch(NAME_PATTERN, full):
        suggestion = re.sub(r"[^a-z0-9]+", "-", given.lower()).strip("-")
        hint = f"try `expert-cli new {suggestion}`" if suggestion and re.fullmatch(NAME_PATTERN, f"expert-{suggestion.removeprefix('expert-')}") else None
        raise UsageError(
            f"name {name!r} is not allowed: expected `expert-<name>` with lower case letters, digits and single dashes",
            hint=hint or "e.g. `expert-cli new sql` creates expert-sql",
        )
    return full


def template_root() -> Traversable:
    return resources.files("expertkit.scaffold") / "templates"


def iter_templates(root: Traversable | None = None, prefix: str = "") -> list[tuple[str, Traversable]]:
    """(destination relative path, template) for every file under templates/, sorted."""
    root = template_root() if root is None else root
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        dest_name = "." + entry.name[len(DOT_PREFIX):] if entry.name.startswith(DOT_PREFIX) else entry.name
        rel = f"{prefix}{dest_name}"
        if entry.is_dir():
            found += iter_templates(entry, rel + "/")
        else:
            found.append((rel, entry))
    return found


def render(data: bytes, values: dict[str, str]) -> bytes:
    """Substitute the known ``${key}`` placeholders in UTF-8 text; other bytes pass through."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text).encode("utf-8")


def _prepare_dir(dest: Path, force: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a directory", hint="choose another --dir")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise UsageError(
            f"{dest} is not empty; refusing to overwrite it",
            hint="use --force to write the expert's files into it anyway (other files are left alone)",
        )
    dest.mkdir(parents=True, exist_ok=True)


def create_expert(
    name: str,
    dest: str | Path | None = None,
    *,
    base_model: str = DEFAULT_BASE_MODEL,
    adapter: str = "dora",
    force: bool = False,
) -> ScaffoldResult:
    """Create expert ``name`` in ``dest`` (default ./expert-<name>); returns what was written."""
    full = normalize_name(name)
    if adapter not in ADAPTER_TYPES:
        raise UsageError(f"adapter type {adapter!r} is not one of {', '.join(ADAPTER_TYPES)}", param="adapter")
    if not base_model.strip():
        raise UsageError("the base model name is empty", param="base_model", hint=f"omit it to use {DEFAULT_BASE_MODEL}")
    if Path(base_model).expanduser().is_dir():
        # a local model directory: absolute, so the manifest works from any working directory
        base_model = str(Path(base_model).expanduser().resolve())
    dest = Path(dest) if dest is not None else Path(full)
    _prepare_dir(dest, force)
    result = ScaffoldResult(full, dest)
    values = {"name": full, "short_name": full.removeprefix("expert-"), "base_model": base_model,
              "adapter_type": adapter, "version": "0.1.0", "python": Path(sys.executable).as_posix()}
    manifest = scaffold_manifest(full, base_model=base_model, adapter=adapter)
    outputs: list[tuple[str, bytes | None]] = [("manifest.json", None)]
    outputs += [(rel, render(tpl.read_bytes(), values)) for rel, tpl in iter_templates()]
    for rel, data in outputs:
        target = dest / rel
        if target.exists():
            result.overwritten.append(rel)
        if data is None:
            data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        # explicit modes: the atomic writer's temp files start as 0600
        atomic.write_bytes(target, data, mode=0o755 if data.startswith(b"#!") else 0o644)
        result.files.append(rel)
    return result
