"""The one manifest loader every command uses.

`inspect_manifest` collects every problem (parse, schema migration, types, semantic checks,
unknown keys) without raising, for `validate`; `load_manifest` raises one `ManifestError`
listing the errors, for every other command. Schema 1.0 (`base_model` + root `adapters`) is
migrated to 2.0 in memory only; the file on disk is never rewritten behind the user's back.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from expertkit.errors import ManifestError
from expertkit.manifest.model import Manifest, Section
from expertkit.manifest.problems import Problem, json_path


@dataclass
class LoadedManifest:
    """A validated manifest plus where it came from and what it looked like on disk."""

    model: Manifest
    raw: dict[str, Any]  # as on disk (key order, unknown and `_` keys intact)
    path: Path
    migrated_from: str | None = None  # "1.0" when the file was a legacy manifest
    warnings: list[Problem] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str | Path) -> Path:
        """A path named in the manifest, resolved against the manifest's directory."""
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p


def read_json(path: Path) -> Any:
    """Parse JSON; a syntax error names file:line:column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: file not found", hint="run `expert-cli new NAME` to create an expert") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def migrate(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None, list[Problem]]:
    """Return (2.0 data, version migrated from or None, problems)."""
    legacy = "base_model" in raw or str(raw.get("schema_version", "")) == "1.0"
    if "base_model" in raw and "base_models" in raw:
        return raw, None, [Problem("base_model", "both `base_model` (schema 1.0) and `base_models` (2.0) are present; keep only `base_models`")]
    version = raw.get("schema_version", "2.0" if not legacy else "1.0")
    if str(version) not in ("1.0", "2.0"):
        return raw, None, [Problem("schema_version", f"{version!r} is not supported (expected \"2.0\" or \"1.0\")")]
    if not legacy:
        return raw, None, []
    data = copy.deepcopy(raw)
    base = data.pop("base_model", None)
    if isinstance(base, str):
        base = {"name": base}
    elif base is None and "base_models" not in data:
        return raw, None, [Problem("base_model", "schema 1.0 manifest without `base_model`")]
    if isinstance(base, dict):
        base.setdefault("adapters", data.pop("adapters", []))
        data["base_models"] = [base]
    data["schema_version"] = "2.0"
    return data, "1.0", []


def _legacy_path(path: str) -> str:
    """Map a 2.0 path back to where a 1.0 manifest keeps it, so messages point at the file."""
    if path.startswith("base_models[0].adapters"):
        return path.replace("base_models[0].adapters", "adapters", 1)
    return path.replace("base_models[0]", "base_model", 1)


def _pydantic_problems(exc: PydanticValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        # union members add their type name to loc (e.g. 'str', 'Limitation'); drop those
        loc = tuple(p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or p in {"str", "int", "float", "dict[str,any]"})))
        found = err.get("input")
        shown = "missing" if err["type"] == "missing" else f"{json.dumps(found, default=str)[:60]} is invalid"
        problems.append(Problem(json_path(loc), f"{shown}: {err['msg'][0].lower()}{err['msg'][1:]}"))
    # a union failure reports once per member; keep one line per path+message
    return list(dict.fromkeys(problems))


def unknown_keys(node: Any, loc: tuple = ()) -> list[Problem]:
    """Keys the model doesn't know (kept, but probably typos). `_`-prefixed keys are comments."""
    found: list[Problem] = []
    if isinstance(node, Section):
        for key in node.model_extra or {}:
            if not key.startswith("_"):
                found.append(Problem(json_path(loc + (key,)), "unknown key (kept as is)", "warning"))
        for name in type(node).model_fields:
            found += unknown_keys(getattr(node, name), loc + (name,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, BaseModel):
                found += unknown_keys(item, loc + (i,))
    return found


def parse_manifest(raw: Any, base_dir: Path | None = None, *, check_files: bool = True) -> tuple[Manifest | None, str | None, list[Problem]]:
    """Validate parsed JSON: (model or None, migrated-from, every problem found)."""
    from expertkit.manifest.checks import semantic_problems

    if not isinstance(raw, dict):
        return None, None, [Problem("", f"the manifest must be a JSON object, found {type(raw).__name__}")]
    data, migrated_from, problems = migrate(raw)
    if problems:
        return None, None, problems
    try:
        model = Manifest.model_validate(data)
    except PydanticValidationError as exc:
        problems = _pydantic_problems(exc)
        model = None
    if model is not None:
        problems = unknown_keys(model) + semantic_problems(model, base_dir if check_files else None)
    if migrated_from:
        problems = [Problem(_legacy_path(p.path), p.message, p.severity) for p in problems]
    return model, migrated_from, problems


def inspect_manifest(path: str | Path, *, check_files: bool = True) -> tuple[LoadedManifest | None, list[Problem]]:
    """Load and check without raising for validation problems (parse errors still raise)."""
    path = Path(path)
    raw = read_json(path)
    model, migrated_from, problems = parse_manifest(raw, path.parent, check_files=check_files)
    if model is None or any(p.severity == "error" for p in problems):
        return None, problems
    warnings = [p for p in problems if p.severity == "warning"]
    return LoadedManifest(model, raw, path, migrated_from, warnings), problems


def load_manifest(path: str | Path = "manifest.json", *, check_files: bool = True) -> LoadedManifest:
    """Load a manifest for a command; raises `ManifestError` listing every error."""
    loaded, problems = inspect_manifest(path, check_files=check_files)
    if loaded is None:
        errors = [p for p in problems if p.severity == "error"]
        first = errors[0] if errors else Problem("", "invalid manifest")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ManifestError(
            f"{path}: {first}{more}",
            problems=errors,
            hint=f"run `expert-cli validate --manifest {path}` to see every problem",
        )
    return loaded
