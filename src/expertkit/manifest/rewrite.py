"""The preserving rewriter: later commands fill quality_metrics, adapters, perf, preprocessing.

Edits go through the raw JSON (a plain dict keeps key order), never through the pydantic model,
so unknown keys, `_comment` keys and key order survive; the file's text is then patched value by
value (`json_patch`), so only the owned keys' lines change: CRLF, indentation, blank lines and
inline arrays elsewhere stay byte-identical. The result is re-validated before it is written
atomically: a rewrite can't leave an invalid or half-written manifest behind.
"""

from __future__ import annotations

import copy
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expertkit import atomic
from expertkit.errors import ManifestError
from expertkit.manifest.json_patch import patch_json_text
from expertkit.manifest.loader import parse_manifest, read_json
from expertkit.manifest.model import model_slug


def update_manifest(path: str | Path, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``edit`` to the raw manifest at ``path`` and write it back atomically.

    ``edit`` mutates the dict in place. Returns the new raw dict.
    """
    path = Path(path)
    raw = read_json(path)
    text = path.read_bytes().decode("utf-8")
    new = copy.deepcopy(raw)
    edit(new)
    model, _, problems = parse_manifest(new, path.parent, check_files=False)
    errors = [p for p in problems if p.severity == "error"]
    if model is None or errors:
        raise ManifestError(
            f"{path}: refusing to write an invalid manifest: {errors[0] if errors else 'invalid'}",
            problems=errors,
        )
    indent = _detect_indent(path)
    # keep the file's permissions: the atomic writer's temp file would otherwise make it 0600
    mode = stat.S_IMODE(path.stat().st_mode)
    atomic.write_text(path, _render(text, raw, new, indent), mode=mode)
    return new


def _render(text: str, old: dict[str, Any], new: dict[str, Any], indent: int) -> str:
    """The file's text with only the changed values rewritten; a full dump (in the file's line
    ends) if the patch would not read back as ``new`` (it always should)."""
    try:
        patched = patch_json_text(text, old, new, indent)
        if json.loads(patched) == new:
            return patched
    except (ValueError, IndexError, KeyError):
        pass
    nl = "\r\n" if "\r\n" in text else "\n"
    return (json.dumps(new, indent=indent, ensure_ascii=False) + "\n").replace("\n", nl)


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in ``raw``, creating objects on the way (appended at the end)."""
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def merge_into(raw: dict[str, Any], dotted: str, values: dict[str, Any]) -> None:
    """Update the object at ``dotted`` key by key: existing keys keep their place, new ones go last."""
    node = raw
    for key in dotted.split("."):
        node = node.setdefault(key, {})
    node.update(values)


def base_model_entry(raw: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The raw dict of the named base model (first if None), for 2.0 and 1.0 manifests alike.

    For a 1.0 manifest the returned dict is `base_model` itself; its adapters live at the root,
    so use `adapters_list` to edit them.
    """
    if "base_models" in raw:
        entries = raw["base_models"]
        if name is None:
            return entries[0]
        for entry in entries:
            if entry.get("name") == name or model_slug(entry.get("name", "")) == model_slug(name):
                return entry
        raise ManifestError(f"base_models: no base model named {name!r}")
    base = raw.get("base_model")
    if isinstance(base, str):
        raw["base_model"] = base = {"name": base}
    return base


def adapters_list(raw: dict[str, Any], name: str | None = None) -> list[Any]:
    """The raw adapters list of a base model (created if absent), in either schema."""
    if "base_models" in raw:
        return base_model_entry(raw, name).setdefault("adapters", [])
    return raw.setdefault("adapters", [])


def _detect_indent(path: Path) -> int:
    """Keep the file's own indentation (2 or 4 spaces, the common ones)."""
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        stripped = line.lstrip(" ")
        if stripped and len(line) != len(stripped):
            return len(line) - len(stripped)
    return 2
