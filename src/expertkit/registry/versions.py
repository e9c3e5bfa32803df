"""Version ordering and `requires` specs (`name` or `name@>=0.2,<1`), via `packaging`."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from expertkit.errors import ValidationError
from expertkit.manifest.checks import REQUIRE_PATTERN


def version_key(text: str) -> tuple:
    """Sort key: PEP 440 order (semver pre-releases like 1.0.0-rc.1 parse too), else the raw text last."""
    try:
        return (1, Version(text), "")
    except InvalidVersion:
        return (0, Version("0"), text)


def newest(versions: list[str]) -> str | None:
    return max(versions, key=version_key) if versions else None


@dataclass(frozen=True)
class Requirement:
    name: str
    spec: SpecifierSet | None
    text: str

    def allows(self, version: str) -> bool:
        if self.spec is None:
            return True
        try:
            return self.spec.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False


def parse_requirement(text: str) -> Requirement:
    match = REQUIRE_PATTERN.match(text.strip())
    if not match:
        raise ValidationError(f"constraints.requires: {text!r} is not `name` or `name@<version spec>`")
    spec = None
    if match.group("spec"):
        try:
            spec = SpecifierSet(match.group("spec"))
        except InvalidSpecifier:
            raise ValidationError(f"constraints.requires: {match.group('spec')!r} is not a version spec") from None
    return Requirement(match.group("name"), spec, text.strip())
