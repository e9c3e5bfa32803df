"""`test --check`: a cases file checked without a model.

Every case loads and its matchers accept it (the same checks `test` makes before generating),
and, when the expert decodes with a grammar, every expected_output is a sentence of that grammar
(an answer the grammar can't produce could never pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# matches whose expected_output is not an answer (a pattern, a schema)
_NOT_AN_ANSWER = ("regex", "json_schema", "keywords", "format")


@dataclass
class CaseCheck:
    cases_file: str
    cases: int
    categories: dict[str, int]
    may_fail: int
    grammar: str | None  # the grammar every expected_output was checked against
    grammar_checked: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"cases_file": self.cases_file, "cases": self.cases, "categories": self.categories, "may_fail": self.may_fail,
                "grammar": self.grammar, "grammar_checked": self.grammar_checked, "ok": self.ok, "problems": self.problems}


def check_cases(manifest: str | Path, cases_path: str | Path | None = None) -> CaseCheck:
    """Load and check the cases of ``manifest`` (or ``cases_path``); raises `TestCaseError` on
    a case that can't be loaded, lists grammar mismatches in ``problems``."""
    from expertkit.evaluation.cases import load_cases
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.grammar import compile_for_text, read_grammar, text_matches_grammar
    from expertkit.runtime.settings import settings_from_manifest

    loaded = load_manifest(manifest)
    cases_file = Path(cases_path) if cases_path else loaded.resolve("tests/test_cases.json")
    settings = settings_from_manifest(loaded)
    cases = load_cases(cases_file, None, default_grammar=settings.grammar_file)
    categories: dict[str, int] = {}
    for case in cases:
        categories[case.category] = categories.get(case.category, 0) + 1
    result = CaseCheck(str(cases_file), len(cases), categories, sum(c.may_fail for c in cases), None, 0)
    if not (settings.use_grammar and settings.grammar_file):
        return result
    grammar = settings.grammar_file
    compiled = compile_for_text(read_grammar(grammar), grammar.name)
    result.grammar = str(grammar)
    for case in cases:
        if case.match in _NOT_AN_ANSWER or not case.expected_text.strip():
            continue
        result.grammar_checked += 1
        if not text_matches_grammar(compiled, case.expected_text.strip()):
            result.problems.append(f"{cases_file}: case {case.id!r}: expected_output is not a sentence of {grammar.name} "
                                   "(with use_grammar the model could never produce it)")
    return result
