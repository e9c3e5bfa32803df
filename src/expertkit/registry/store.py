"""`$EXPERT_HOME/registry.json`: installed experts, their versions, the current one, source and signer.

Layout (version 1)::

    {"version": 1, "experts": {"<name>": {"current": "<ver>", "versions": {"<ver>": {
        "path", "source", "source_kind", "signer", "trusted", "package_sha256", "base_model",
        "requires", "incompatible_with", "allow_unsigned", "installed_at"}}}}}

Every read-modify-write holds `registry.json.lock` (filelock), and writes are atomic, so
parallel installs never lose each other's entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from expertkit import atomic
from expertkit.errors import EnvironmentProblem, RegistryError
from expertkit.home import experts_dir, registry_file
from expertkit.registry.versions import newest

REGISTRY_VERSION = 1
LOCK_TIMEOUT_S = 300


def _empty() -> dict[str, Any]:
    return {"version": REGISTRY_VERSION, "experts": {}}


def read_registry() -> dict[str, Any]:
    path = registry_file()
    if not path.exists():
        return _empty()
    if not path.is_file():
        raise EnvironmentProblem(f"{path}: is not a file, so the installed experts can't be read",
                                 hint="move it aside; experts/ still holds the installed files")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"{path}: unreadable registry: {exc}", hint="restore it from a backup or remove it (installed files stay)") from None
    if not isinstance(data, dict) or not isinstance(data.get("experts"), dict):
        raise EnvironmentProblem(f"{path}: not an expertkit registry")
    return data


@contextmanager
def registry_lock() -> Iterator[None]:
    path = registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout:
        raise EnvironmentProblem(f"{path}: another expert-cli is still changing the registry", hint="wait and try again") from None


@contextmanager
def transaction() -> Iterator[dict[str, Any]]:
    """Read-modify-write under the lock; the new registry is written only if the block succeeds."""
    with registry_lock():
        data = read_registry()
        yield data
        atomic.write_json(registry_file(), data)


def version_dir(name: str, version: str) -> Path:
    return experts_dir() / name / version


def get_expert(data: dict[str, Any], name: str) -> dict[str, Any]:
    entry = data["experts"].get(name)
    if not entry or not entry.get("versions"):
        installed = ", ".join(sorted(data["experts"])) or "none"
        raise RegistryError(f"{name} is not installed (installed: {installed})", hint="see `expert-cli list`")
    return entry


def current_record(data: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    entry = get_expert(data, name)
    version = entry.get("current") or newest(list(entry["versions"]))
    return version, entry["versions"][version]


CURRENT_RULE = "current is the newest installed version unless one is pinned (install --pin)"


def set_current(entry: dict[str, Any], installed: str | None = None, *, pin: bool = False) -> None:
    """The one rule: the newest version is current, unless the user pinned one that is still installed."""
    versions = list(entry.get("versions", {}))
    if pin and installed in versions:
        entry["current"], entry["pinned"] = installed, True
    elif not (entry.get("pinned") and entry.get("current") in versions):
        entry["current"], entry["pinned"] = newest(versions), False


def shown_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record as list/info show it: `trusted` is the trust store's answer now, `trusted_at_install` what it was."""
    from expertkit.packaging.trust import is_trusted

    out = dict(record)
    out["trusted_at_install"] = bool(record.get("trusted"))
    out["trusted"] = bool(record.get("signer")) and is_trusted(record["signer"])
    return out
