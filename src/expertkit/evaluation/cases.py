"""tests/test_cases.json: read, check every case up front, select by category.

The guide's format (id, name, input, expected_output, description, category) plus optional
`system` (context such as a schema, sent as the system message), `match` (see `matchers`;
default `normalized`), `setup` (sql_exec: SQL that creates and fills an SQLite database) and
`grammar` (grammar match: inline GBNF or a file beside the cases file; default: the expert's
grammar). Any problem is one `TestCaseError` naming the file and the case id, raised before a
model is loaded. Keys starting with `_` (comments, examples) are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import TestCaseError, UsageError
from expertkit.evaluation.matchers import get_matcher

CATEGORIES = ("basic", "edge", "hard")
DEFAULT_MATCH = "normalized"


@dataclass
class TestCase:
    id: str
    input: str
    expected_output: Any  # a string; JSON matchers also take a JSON value
    name: str = ""
    description: str = ""
    category: str = "basic"
    system: str | None = None
    match: str = DEFAULT_MATCH
    setup: str | None = None
    grammar_text: str | None = None
    grammar_source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a pytest class

    @property
    def expected_text(self) -> str:
        value = self.expected_output
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_categories(value: str | list[str] | None) -> list[str] | None:
    """`--category hard` or `hard,edge` -> ["hard", "edge"]; an unknown name is a UsageError."""
    if value is None:
        return None
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown or not names:
        raise UsageError(f"{value!r}: unknown category (expected {', '.join(CATEGORIES)})", param="category")
    return names


def _read(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TestCaseError(f"{path}: test cases file not found",
                            hint="create tests/test_cases.json (see the guide's Testing section) or pass --cases") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TestCaseError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TestCaseError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    cases = data.get("test_cases") if isinstance(data, dict) else data
    if not isinstance(cases, list):
        raise TestCaseError(f"{path}: expected {{\"test_cases\": [...]}} (a list of cases)")
    return cases


def _build(raw: Any, index: int, path: Path, default_grammar: Path | None) -> TestCase:
    label = f"case #{index + 1}"
    if not isinstance(raw, dict):
        raise TestCaseError(f"{path}: {label}: expected an object, found {type(raw).__name__}")
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not case_id.strip():
        raise TestCaseError(f"{path}: {label}: missing `id` (a non-empty string)")

    def fail(message: str) -> TestCaseError:
        return TestCaseError(f"{path}: case {case_id!r}: {message}")

    if not isinstance(raw.get("input"), str):
        raise fail("missing `input` (the prompt, a string)")
    if raw.get("expected_output") is None:
        raise fail("missing `expected_output`")
    category = raw.get("category", "basic")
    if category not in CATEGORIES:
        raise fail(f"unknown category {category!r} (expected {', '.join(CATEGORIES)})")
    for key in ("system", "setup", "name", "description"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise fail(f"`{key}` must be a string")
    grammar_text, grammar_source = _grammar_for(raw.get("grammar"), path, default_grammar, fail)
    known = {"id", "input", "expected_output", "name", "description", "category", "system", "match", "setup", "grammar"}
    return TestCase(
        id=case_id, input=raw["input"], expected_output=raw["expected_output"], name=raw.get("name") or case_id,
        description=raw.get("description") or "", category=category, system=raw.get("system"),
        match=raw.get("match") or DEFAULT_MATCH, setup=raw.get("setup"), grammar_text=grammar_text,
        grammar_source=grammar_source, extra={k: v for k, v in raw.items() if k not in known},
    )


def _grammar_for(value: Any, path: Path, default: Path | None, fail: Any) -> tuple[str | None, str | None]:
    if value is None:
        if default is not None and default.is_file():
            return default.read_text(encoding="utf-8"), str(default)
        return None, None
    if not isinstance(value, str):
        raise fail("`grammar` must be GBNF text or a file name")
    if "::=" in value:
        return value, "grammar"
    file = path.parent / value
    if not file.is_file():
        raise fail(f"grammar file {value} not found beside {path.name}")
    return file.read_text(encoding="utf-8"), str(file)


def load_cases(path: str | Path, categories: list[str] | None = None, *, default_grammar: Path | None = None) -> list[TestCase]:
    """Every case of ``path`` in ``categories`` (all when None), each checked by its matcher."""
    path = Path(path)
    cases: list[TestCase] = []
    seen: set[str] = set()
    for index, raw in enumerate(_read(path)):
        case = _build(raw, index, path, default_grammar)
        if case.id in seen:
            raise TestCaseError(f"{path}: case {case.id!r}: duplicate id")
        seen.add(case.id)
        try:
            get_matcher(case.match).validate(case)
        except (KeyError, ValueError) as exc:
            raise TestCaseError(f"{path}: case {case.id!r}: {exc.args[0]}") from None
        cases.append(case)
    selected = [c for c in cases if categories is None or c.category in categories]
    if not selected:
        which = f" in category {', '.join(categories)}" if categories else ""
        raise TestCaseError(f"{path}: no test cases{which}", hint="add cases to the test_cases list (see the guide's Testing section)")
    return selected
