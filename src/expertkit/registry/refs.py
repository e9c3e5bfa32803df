"""`NAME[@VERSION]`: the one parser of expert references and their resolution in the registry.

Every command that names an installed expert (info, uninstall, update, ask) goes through here,
so an empty name or version is the same usage error everywhere (never "every version").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from expertkit.errors import RegistryError, UsageError


@dataclass(frozen=True)
class ExpertRef:
    name: str
    version: str | None = None  # None: the current version (or every version, for uninstall)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


def parse_ref(text: str) -> ExpertRef:
    """``NAME`` or ``NAME@VERSION``; UsageError when either part is empty or has spaces."""
    name, at, version = text.strip().partition("@")
    if not name:
        raise UsageError(f"{text!r}: the expert name is empty", hint="write NAME or NAME@VERSION, e.g. expert-sql@0.1.0")
    if at and not version:
        raise UsageError(f"{text!r}: the version after @ is empty", hint="write NAME (every/current version) or NAME@VERSION")
    if "@" in version or any(c.isspace() for c in name + version):
        raise UsageError(f"{text!r}: expected NAME or NAME@VERSION")
    return ExpertRef(name, version or None)


def resolve_ref(data: dict[str, Any], ref: ExpertRef) -> tuple[str, dict[str, Any]]:
    """(version, record) of ``ref`` in the registry ``data``: its version, else the current one."""
    from expertkit.registry.store import current_record, get_expert

    if ref.version is None:
        return current_record(data, ref.name)
    versions = get_expert(data, ref.name)["versions"]
    if ref.version not in versions:
        from expertkit.registry.versions import version_key

        have = ", ".join(sorted(versions, key=version_key))
        raise RegistryError(f"{ref.name} {ref.version} is not installed (installed: {have})", hint="see `expert-cli list`")
    return ref.version, versions[ref.version]
