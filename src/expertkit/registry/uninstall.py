"""`uninstall NAME[@VERSION]`: remove installed versions, guarded by other experts' requires."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import RegistryError
from expertkit.registry.refs import parse_ref, resolve_ref
from expertkit.registry.store import get_expert, read_registry, set_current, transaction, version_dir
from expertkit.registry.versions import parse_requirement


@dataclass
class UninstallResult:
    name: str
    removed: list[str]
    current: str | None
    warnings: list[str] = field(default_factory=list)


def dependents(data: dict[str, Any], name: str, remaining: list[str]) -> list[str]:
    """Installed experts (current versions of other names) whose requires on ``name`` no version in ``remaining`` meets."""
    out = []
    for other, entry in data["experts"].items():
        if other == name:
            continue
        record = entry.get("versions", {}).get(entry.get("current"), {})
        for text in record.get("requires") or []:
            req = parse_requirement(text)
            if req.name == name and not any(req.allows(v) for v in remaining):
                out.append(f"{other}@{entry.get('current')} (requires {text})")
    return out


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    # rename first so a half-deleted tree is never visible under experts/<name>/<version>
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".removing", dir=path.parent))
    os.replace(path, trash / "tree")
    shutil.rmtree(trash, ignore_errors=True)


def uninstall(target: str, *, force: bool = False) -> UninstallResult:
    ref = parse_ref(target)
    name, version = ref.name, ref.version
    warnings: list[str] = []
    resolve_ref(read_registry(), ref)  # nothing to remove: say so before a lock file is even created
    with transaction() as data:
        entry = get_expert(data, name)
        if version:
            resolve_ref(data, ref)
        removing = [version] if version else list(entry["versions"])
        remaining = [v for v in entry["versions"] if v not in removing]
        blockers = dependents(data, name, remaining)
        if blockers and not force:
            raise RegistryError(f"{target} is required by {', '.join(blockers)}",
                                hint="uninstall those first, or pass --force (they will fail to load)")
        if blockers:
            warnings.append(f"left without a dependency: {', '.join(blockers)}")
        for v in removing:
            _remove_tree(Path(entry["versions"][v]["path"]))
            del entry["versions"][v]
        if entry["versions"]:
            set_current(entry)
            current = entry["current"]
        else:
            del data["experts"][name]
            current = None
            name_dir = version_dir(name, "x").parent
            if name_dir.is_dir() and not any(name_dir.iterdir()):
                name_dir.rmdir()
    return UninstallResult(name, removing, current, warnings)
