"""What `expert-cli models list` shows: aliases and imported models with their facts.

Facts come from files, never from loading weights: the architecture from config.json, the
parameter count from the safetensors headers, the size from the directory listing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from expertkit.models.aliases import ALIASES, alias_dir, gguf_source, is_ready
from expertkit.models.digest import DIGEST_DEFINITION, model_digest, weight_files
from expertkit.models.gguf import gguf_summary
from expertkit.models.index import read_index


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def count_parameters(model_dir: Path) -> int | None:
    """Parameters stored in the safetensors files (shared/tied tensors are stored, and counted, once)."""
    from safetensors import safe_open

    total = 0
    files = [f for f in weight_files(model_dir) if f.suffix == ".safetensors"]
    if not files:
        return None
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                n = 1
                for d in fh.get_slice(key).get_shape():
                    n *= int(d)
                total += n
    return total


def architecture(model_dir: Path) -> str | None:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    archs = config.get("architectures") or []
    return archs[0] if archs else config.get("model_type")


def dir_facts(model_dir: Path) -> dict[str, Any]:
    return {"architecture": architecture(model_dir), "parameters": count_parameters(model_dir)}


def _row(name: str, path: Path, source: str, kind: str, entry: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    entry = entry or {}
    ready = is_ready(path)
    row: dict[str, Any] = {
        "name": name,
        "source": source,
        "kind": kind,
        "path": str(path),
        "origin": entry.get("origin"),
        "ready": ready,
        "architecture": entry.get("architecture") or (architecture(path) if ready else None),
        "parameters": entry.get("parameters") or (count_parameters(path) if ready else None),
        "size_bytes": dir_size(path) if ready else None,
        "sha256": model_digest(path) if ready else None,
    }
    row.update(extra)
    return row


def list_models() -> dict[str, Any]:
    """Every alias (prepared or not) and every imported model, plus the digest definition."""
    index = read_index()
    rows = []
    for alias in ALIASES.values():
        entry = index["models"].get(alias.name)
        try:
            origin = str(gguf_source(alias))
        except Exception:  # noqa: BLE001 - a missing package is shown as origin None, not an error
            origin = None
        row = _row(alias.name, alias_dir(alias), "alias", "converted", entry, description=alias.description)
        row["origin"] = row["origin"] or origin
        if not row["ready"] and origin:  # facts from the GGUF header, so the list is useful before preparing
            try:
                row.update({k: v for k, v in gguf_summary(origin).items() if v is not None})
            except Exception:  # noqa: BLE001 - an unreadable header only leaves the facts empty here
                pass
        rows.append(row)
    for name, entry in sorted(index["models"].items()):
        if entry.get("source") != "imported":
            continue
        rows.append(_row(name, Path(entry["path"]), "imported", entry.get("kind", "referenced"), entry))
    return {"digest": DIGEST_DEFINITION, "models": rows}
