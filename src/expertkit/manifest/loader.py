"""The one manifest loader every command uses.

`inspect_manifest` collects every problem (parse, schema migration, types, semantic checks,
unknown keys) without raising, for `validate`; `load_manifest` raises one `ManifestError`
listing the errors, for every other command. Schema 1.0 (`base_model` + root `adapters`) is
migrated to 2.0 in memory only; the file on disk is never rewritten behind the user's back.
"""

from __future__ import annotations

import copy
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from expertkit.errors import ManifestError
from expertkit.manifest.model import Manifest, Perf, QualityMetrics, Section
from expertkit.manifest.problems import Problem, json_path, shorten, show_value
from expertkit.manifest.reference_keys import RUNTIME_KEYS, RUNTIME_REASON, classify_extra

# sections whose extra keys are expected, not typos
OPEN_SECTIONS = (QualityMetrics, Perf)


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
    return read_json_checked(path)[0]


def read_json_checked(path: Path) -> tuple[Any, list[Problem]]:
    """Parse JSON and warn about duplicate keys (json keeps only the last value of each)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: file not found", hint="run `expert-cli new NAME` to create an expert") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None
    duplicates: dict[int, list[str]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                duplicates.setdefault(id(obj), []).append(key)
            obj[key] = value
        return obj

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        comment = _comment_at(text, exc)
        if comment:
            raise ManifestError(f"{path}:{exc.lineno}:{exc.colno}: a `{comment}` comment, but JSON has no comments",
                                hint='delete it, or keep the note as a "_comment": "..." key (expertkit keeps _comment keys)') from None
        raise ManifestError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply to be a manifest") from None
    return data, _duplicate_problems(data, duplicates) if duplicates else []


def _comment_at(text: str, exc: json.JSONDecodeError) -> str | None:
    """`#` or `//` when the parse failed where such a comment starts (the guide's template has one)."""
    rest = text[exc.pos:].lstrip(" \t")
    return next((mark for mark in ("#", "//", "/*") if rest.startswith(mark)), None)


def _duplicate_problems(node: Any, duplicates: dict[int, list[str]], loc: tuple = ()) -> list[Problem]:
    found: list[Problem] = []
    if isinstance(node, dict):
        for key in dict.fromkeys(duplicates.get(id(node), [])):
            found.append(Problem(json_path(loc + (key,)), "duplicate key: only the last value is used", "warning"))
        for key, value in node.items():
            found += _duplicate_problems(value, duplicates, loc + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _duplicate_problems(value, duplicates, loc + (i,))
    return found


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
    elif base is not None and not isinstance(base, dict):
        found = shorten(json.dumps(base, default=str, ensure_ascii=False))
        return raw, None, [Problem("base_model", f"{found} is invalid (expected a model name or an object with `name`)")]
    if isinstance(base, dict):
        if "adapters" in base and "adapters" in data:
            return raw, None, [Problem("adapters", "both `adapters` and `base_model.adapters` are present; keep one")]
        base.setdefault("adapters", data.pop("adapters", []))
        data["base_models"] = [base]
    data["schema_version"] = "2.0"
    return data, "1.0", []


def _legacy_path(path: str) -> str:
    """Map a 2.0 path back to where a 1.0 manifest keeps it, so messages point at the file."""
    if path.startswith("base_models[0].adapters"):
        return path.replace("base_models[0].adapters", "adapters", 1)
    return path.replace("base_models[0]", "base_model", 1)


def _data_loc(data: Any, loc: tuple, missing: bool) -> tuple:
    """The part of a pydantic ``loc`` that names real JSON keys/indexes.

    Unions add a member tag to ``loc`` (`str`, `dict[str,any]`, `Limitation`); we follow the
    data instead of guessing tag names, so only keys the user wrote (or must write) remain.
    """
    kept: list = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and i == len(loc) - 1:
            pass  # the required key the user left out
        else:
            continue  # a union member tag, not a key
        kept.append(part)
    return tuple(kept)


def _expected(msg: str) -> str:
    """pydantic's "Input should be a valid integer" -> "a valid integer"."""
    for prefix in ("Input should be ", "Value should be ", "Input must be "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg[:1].lower() + msg[1:]


def _quoted_scalar(err: Any) -> bool:
    """A string that would be the expected number/bool without its quotes ("12", "true")."""
    value, kind = err.get("input"), err["type"]
    if not isinstance(value, str) or kind not in ("int_type", "float_type", "bool_type"):
        return False
    if kind == "bool_type":
        return value in ("true", "false")
    try:
        (int if kind == "int_type" else float)(value)
    except ValueError:
        return False
    return True


def _found(err: Any) -> str:
    shown = show_value(err.get("input"))
    if _quoted_scalar(err):
        return f"{shown} is a string"  # strict, as the JSON Schema: "12" is not 12
    return f"{shown} is invalid"


def _pydantic_problems(exc: PydanticValidationError, data: Any) -> list[Problem]:
    """One problem per JSON path: what was found and what is expected."""
    errors = [(json_path(_data_loc(data, tuple(e["loc"]), e["type"] == "missing")), e) for e in exc.errors(include_url=False)]
    paths = {path for path, _ in errors}
    found_at: dict[str, str] = {}
    expected_at: dict[str, list[str]] = {}
    for path, err in errors:
        deeper = any(p.startswith(path + ".") or p.startswith(path + "[") for p in paths if path)
        if deeper and err["type"].endswith("_type"):
            continue  # a union member the input clearly wasn't meant for; its deeper error says more
        if err["type"] == "missing":
            found_at[path], expected = "missing", "required"
        else:
            found_at.setdefault(path, _found(err))
            expected = "expected " + _expected(err["msg"])
            if _quoted_scalar(err):
                expected = "expected true or false, without quotes" if err["type"] == "bool_type" else expected + ", without quotes"
        # a union failure reports once per member: gather them into one line
        expected_at.setdefault(path, [])
        if expected not in expected_at[path]:
            expected_at[path].append(expected)
    return [Problem(path, f"{found_at[path]} ({' or '.join(expected_at[path]).replace(' or expected ', ' or ')})") for path in expected_at]


def _without_bad_values(data: dict[str, Any], exc: PydanticValidationError, rounds: int = 3) -> Manifest | None:
    """The manifest with each value that failed its type removed (its default applies), for
    running the range and file checks on the rest; None when a required value is missing."""
    current = copy.deepcopy(data)
    for _ in range(rounds):
        for err in exc.errors(include_url=False):
            if err["type"] == "missing":
                return None
            loc = _data_loc(current, tuple(err["loc"]), False)
            _drop(current, loc)
        try:
            return Manifest.model_validate(current)
        except PydanticValidationError as again:
            exc = again
    return None


def _drop(node: Any, loc: tuple) -> None:
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) and loc and loc[-1] in node:
        del node[loc[-1]]
    elif isinstance(node, list) and loc and isinstance(loc[-1], int) and loc[-1] < len(node):
        node.pop(loc[-1])


def _identity_problems(data: dict[str, Any]) -> list[Problem]:
    """name/version rules for a manifest that failed on types elsewhere, so all show at once."""
    from expertkit.manifest.checks import identity_format_problems

    name, version = data.get("name"), data.get("version")
    return identity_format_problems(name if isinstance(name, str) else None, version if isinstance(version, str) else None)


def unknown_keys(node: Any, loc: tuple = ()) -> list[Problem]:
    """Keys the model doesn't know: reference-schema keys we don't act on (one line per section,
    saying why) and keys neither schema knows (kept, but probably typos). `_` keys are comments."""
    found: list[Problem] = []
    if isinstance(node, OPEN_SECTIONS):
        return found  # metric bags: tools and people add their own metrics ("sql_valid": "16/18")
    if isinstance(node, Section):
        unused: dict[str, list[str]] = {}
        for key in node.model_extra or {}:
            if key.startswith("_"):
                continue
            reason = classify_extra(type(node), key)
            if reason is None:
                found.append(Problem(json_path(loc + (key,)), "unknown key (kept as is)", "warning"))
            elif reason != "alias":
                unused.setdefault(reason, []).append(key)
        if unused:
            found.append(_not_used(loc, unused))
        for name in type(node).model_fields:
            found += unknown_keys(getattr(node, name), loc + (name,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, BaseModel):
                found += unknown_keys(item, loc + (i,))
    elif isinstance(node, dict) and loc == ("runtime",):
        keys = [k for k in node if k in RUNTIME_KEYS]
        if keys:
            found.append(_not_used(loc, {RUNTIME_REASON: keys}))
    return found


def _not_used(loc: tuple, by_reason: dict[str, list[str]]) -> Problem:
    parts = [f"{', '.join(keys)}: {reason}" for reason, keys in by_reason.items()]
    return Problem(json_path(loc), "reference-schema keys not used by expertkit (kept as is): " + "; ".join(parts), "warning")


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
        problems = _pydantic_problems(exc, data) + _identity_problems(data)
        model = None
        partial = _without_bad_values(data, exc)
        if partial is not None:  # the other checks still run, so every problem shows at once
            reported = {p.path for p in problems}
            problems += [p for p in unknown_keys(partial) + semantic_problems(partial, base_dir if check_files else None)
                         if p.path not in reported and not p.path.startswith(("name", "version"))]
    if model is not None:
        problems = unknown_keys(model) + semantic_problems(model, base_dir if check_files else None)
    if migrated_from:
        problems = [Problem(_legacy_path(p.path), p.message, p.severity) for p in problems]
    return model, migrated_from, problems


def inspect_manifest(path: str | Path, *, check_files: bool = True) -> tuple[LoadedManifest | None, list[Problem]]:
    """Load and check without raising for validation problems (parse errors still raise)."""
    path = Path(path)
    raw, duplicates = read_json_checked(path)
    model, migrated_from, problems = parse_manifest(raw, path.parent, check_files=check_files)
    problems = duplicates + problems
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
            hint=f"run `expert-cli validate --manifest {shlex.quote(str(path))}` to see every problem",
        )
    return loaded
