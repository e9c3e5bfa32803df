"""`update NAME`: re-install from the recorded source when it offers a newer version."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from expertkit.errors import RegistryError
from expertkit.packaging.reader import open_package
from expertkit.registry.install import InstallResult, Options, install
from expertkit.registry.refs import parse_ref, resolve_ref
from expertkit.registry.sources import fetch_source
from expertkit.registry.store import read_registry
from expertkit.registry.versions import version_key


@dataclass
class UpdateResult:
    name: str
    old_version: str
    new_version: str
    updated: bool
    install: InstallResult | None = None


def update(name: str, opts: Options | None = None) -> UpdateResult:
    """Look at the recorded source of NAME[@VERSION] (default: current); install it when it offers a newer version."""
    ref = parse_ref(name)
    name = ref.name
    current, record = resolve_ref(read_registry(), ref)
    source = record.get("source")
    if not source:
        raise RegistryError(f"{name} {current}: no source recorded, nothing to update from")
    with tempfile.TemporaryDirectory(prefix="expert-update-") as work:
        offered = str(open_package(fetch_source(source, Path(work)).path).manifest.get("version", ""))
    if version_key(offered) <= version_key(current):
        return UpdateResult(name, current, offered, False)
    # an expert first installed unsigned stays installable unsigned from the same source
    opts = opts or Options(allow_unsigned=bool(record.get("allow_unsigned")))
    result = install(source, opts)
    if result.name != name:
        raise RegistryError(f"{source} now holds {result.name}, not {name}")
    return UpdateResult(name, current, result.version, True, result)
