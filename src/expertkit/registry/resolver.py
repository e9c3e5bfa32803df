"""Resolve `constraints.requires` transitively against installed experts and `--from DIR`.

Installed versions are preferred (the current one first); otherwise the newest matching
`.expert` file in DIR is planned for install. Every missing requirement is collected and
reported at once; a dependency cycle is an error naming the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import RegistryError
from expertkit.registry.versions import Requirement, parse_requirement, version_key


@dataclass(frozen=True)
class Candidate:
    name: str
    version: str
    requires: tuple[str, ...]
    path: Path | None = None  # None: already installed


@dataclass
class Plan:
    to_install: list[Candidate] = field(default_factory=list)  # dependencies first
    satisfied_by_installed: list[str] = field(default_factory=list)


def candidates_in_dir(folder: Path | None) -> dict[str, list[Candidate]]:
    """Every readable `.expert` in ``folder`` (not recursive), by expert name."""
    from expertkit.errors import ExpertError
    from expertkit.packaging.reader import open_package

    out: dict[str, list[Candidate]] = {}
    for path in sorted(folder.glob("*.expert")) if folder else []:
        try:
            raw = open_package(path).manifest
        except ExpertError:
            continue  # an unreadable file can't satisfy anything; verifying it is install's job if chosen
        requires = tuple((raw.get("constraints") or {}).get("requires") or [])
        out.setdefault(str(raw.get("name")), []).append(Candidate(str(raw.get("name")), str(raw.get("version")), requires, path))
    return out


def installed_candidates(registry: dict[str, Any]) -> dict[str, list[Candidate]]:
    out: dict[str, list[Candidate]] = {}
    for name, entry in registry["experts"].items():
        current = entry.get("current")
        versions = sorted(entry.get("versions", {}).items(), key=lambda kv: (kv[0] == current, version_key(kv[0])), reverse=True)
        out[name] = [Candidate(name, v, tuple(rec.get("requires") or [])) for v, rec in versions]
    return out


def _pick(req: Requirement, pool: dict[str, list[Candidate]], newest_first: bool) -> Candidate | None:
    matches = [c for c in pool.get(req.name, []) if req.allows(c.version)]
    if newest_first:
        matches.sort(key=lambda c: version_key(c.version), reverse=True)
    return matches[0] if matches else None


def plan_requirements(root: str, requires: list[str], registry: dict[str, Any], from_dir: Path | None) -> Plan:
    """What must be installed (deps first) so ``root``'s requires hold; RegistryError lists what's missing."""
    installed, available = installed_candidates(registry), candidates_in_dir(from_dir)
    plan, missing, done = Plan(), [], set()

    def visit(owner: str, reqs: tuple[str, ...], stack: list[str]) -> None:
        for text in reqs:
            req = parse_requirement(text)
            if req.name in stack:
                loop = " -> ".join(stack[stack.index(req.name):] + [req.name])
                raise RegistryError(f"dependency cycle: {loop}", hint="remove one of the requires entries in the loop")
            chosen = _pick(req, installed, newest_first=False) or _pick(req, available, newest_first=True)
            if chosen is None:
                missing.append(f"{req.text} (required by {owner})")
                continue
            key = (chosen.name, chosen.version)
            if chosen.path is None:
                plan.satisfied_by_installed.append(f"{chosen.name}@{chosen.version}")
            visit(chosen.name, chosen.requires, stack + [chosen.name])
            if chosen.path is not None and key not in done:
                done.add(key)
                plan.to_install.append(chosen)

    visit(root, tuple(requires), [root])
    if missing:
        where = f" or in {from_dir}" if from_dir else " (pass --from DIR with their .expert files)"
        raise RegistryError(f"missing requirements: {'; '.join(dict.fromkeys(missing))}; not installed{where}",
                            hint="install them first, or put their .expert files in a folder and pass --from DIR")
    return plan
