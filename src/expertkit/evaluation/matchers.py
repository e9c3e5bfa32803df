"""How a test case's output is judged: a small registry of named matchers.

Each matcher checks a case once when the cases are loaded (`validate`, so a bad regex or a
broken SQL setup is reported before any model runs) and then judges an answer (`match`,
returning pass/fail and a reason). `register` refuses a second matcher under a known name.

- exact       the answer equals expected_output (surrounding whitespace ignored)
- normalized  equal after collapsing whitespace, ignoring case and trailing `;` (the default)
- contains    expected_output occurs in the answer (case-sensitive)
- regex       the whole answer (stripped) matches the pattern (`re.fullmatch`; use `.*` for partial)
- json_equal  the answer parses as JSON equal to expected_output (a JSON string or value)
- json_schema the answer parses as JSON valid under the schema in expected_output
- sql_exec    generated and expected SQL give the same rows on the case's `setup` data
- grammar     the answer is a sentence of the case's `grammar` (else the expert's grammar.gbnf)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # cases.py imports this module to check each case; the arrow goes one way at run time
    from expertkit.evaluation.cases import TestCase


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


class Matcher(Protocol):
    name: str

    def validate(self, case: TestCase) -> None:
        """Raise ValueError (the message, without the case id) when the case can't be judged."""

    def match(self, answer: str, case: TestCase) -> Verdict: ...


MATCHERS: dict[str, Matcher] = {}


def register(matcher: Matcher) -> Matcher:
    if matcher.name in MATCHERS:
        raise ValueError(f"a matcher named {matcher.name!r} is already registered")
    MATCHERS[matcher.name] = matcher
    return matcher


def get_matcher(name: str) -> Matcher:
    try:
        return MATCHERS[name]
    except KeyError:
        raise KeyError(f"unknown match {name!r} (expected one of {', '.join(MATCHERS)})") from None


def normalize(text: str) -> str:
    """Whitespace collapsed, case folded, trailing semicolons dropped."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"[\s;]+$", "", text).casefold()


def _expected_text(case: TestCase) -> str:
    if not isinstance(case.expected_output, str):
        raise ValueError(f"expected_output must be a string for match {case.match!r}")
    return case.expected_output


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class _TextMatcher:
    def __init__(self, name: str, judge: Any, describe: str) -> None:
        self.name, self._judge, self._describe = name, judge, describe

    def validate(self, case: TestCase) -> None:
        _expected_text(case)

    def match(self, answer: str, case: TestCase) -> Verdict:
        ok = self._judge(answer, case.expected_output)
        return Verdict(ok, f"{self._describe}" if ok else f"not {self._describe}: got {_short(answer)!r}")


class RegexMatcher:
    name = "regex"

    def validate(self, case: TestCase) -> None:
        try:
            re.compile(_expected_text(case))
        except re.error as exc:
            raise ValueError(f"invalid regex in expected_output: {exc}") from None

    def match(self, answer: str, case: TestCase) -> Verdict:
        ok = re.fullmatch(case.expected_output, answer.strip()) is not None
        return Verdict(ok, "matches the pattern" if ok else f"does not match /{_short(case.expected_output, 60)}/: got {_short(answer)!r}")


def _parse_expected_json(case: TestCase) -> Any:
    value = case.expected_output
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected_output is not valid JSON: {exc.msg} at column {exc.colno}") from None
    return value


def _parse_answer_json(answer: str) -> tuple[Any, str | None]:
    try:
        return json.loads(answer), None
    except json.JSONDecodeError as exc:
        return None, f"the answer is not JSON ({exc.msg} at column {exc.colno}): {_short(answer)!r}"


def json_same(a: Any, b: Any) -> bool:
    """JSON equality that keeps true != 1 (Python's == does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class JsonEqualMatcher:
    name = "json_equal"

    def validate(self, case: TestCase) -> None:
        _parse_expected_json(case)

    def match(self, answer: str, case: TestCase) -> Verdict:
        got, error = _parse_answer_json(answer)
        if error:
            return Verdict(False, error)
        ok = json_same(got, _parse_expected_json(case))
        return Verdict(ok, "equal JSON" if ok else f"JSON differs: got {_short(json.dumps(got))}")


class JsonSchemaMatcher:
    name = "json_schema"

    def validate(self, case: TestCase) -> None:
        import jsonschema

        schema = _parse_expected_json(case)
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"expected_output is not a valid JSON Schema: {exc.message}") from None

    def match(self, answer: str, case: TestCase) -> Verdict:
        import jsonschema

        got, error = _parse_answer_json(answer)
        if error:
            return Verdict(False, error)
        schema = _parse_expected_json(case)
        problem = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(got))
        if problem is None:
            return Verdict(True, "valid under the schema")
        where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
        return Verdict(False, f"schema violation at {where}: {problem.message}")


class SqlExecMatcher:
    name = "sql_exec"

    def validate(self, case: TestCase) -> None:
        from expertkit.evaluation.sql_exec import SqlRunError, check_setup, run_query

        expected = _expected_text(case)
        if not isinstance(case.setup, str) or not case.setup.strip():
            raise ValueError("match sql_exec needs `setup`: SQL that creates and fills the database")
        try:
            check_setup(case.setup)
        except SqlRunError as exc:
            raise ValueError(f"broken sql_exec setup: {exc}") from None
        try:
            run_query(case.setup, expected)
        except SqlRunError as exc:
            raise ValueError(f"expected_output does not run on the setup data: {exc}") from None

    def match(self, answer: str, case: TestCase) -> Verdict:
        from expertkit.evaluation.sql_exec import compare_sql

        outcome = compare_sql(answer, case.expected_output, case.setup or "")
        return Verdict(outcome.passed, outcome.reason)


class GrammarMatcher:
    name = "grammar"

    def validate(self, case: TestCase) -> None:
        from expertkit.errors import GrammarError
        from expertkit.runtime.grammar import compile_for_text, text_matches_grammar

        if case.grammar_text is None:
            raise ValueError("match grammar needs a grammar: a `grammar` field or the expert's grammar.gbnf")
        try:
            compiled = compile_for_text(case.grammar_text, case.grammar_source or "grammar")
        except GrammarError as exc:
            raise ValueError(exc.message) from None
        if not text_matches_grammar(compiled, _expected_text(case).strip()):
            raise ValueError("expected_output is not a sentence of the grammar")

    def match(self, answer: str, case: TestCase) -> Verdict:
        from expertkit.runtime.grammar import compile_for_text, text_matches_grammar

        ok = text_matches_grammar(compile_for_text(case.grammar_text or "", case.grammar_source or "grammar"), answer.strip())
        return Verdict(ok, "parses under the grammar" if ok else f"does not parse under the grammar: {_short(answer)!r}")


register(_TextMatcher("exact", lambda a, e: a.strip() == e.strip(), "exactly equal"))
register(_TextMatcher("normalized", lambda a, e: normalize(a) == normalize(e), "equal after normalization"))
register(_TextMatcher("contains", lambda a, e: e in a, "contained in the answer"))
for _matcher in (RegexMatcher(), JsonEqualMatcher(), JsonSchemaMatcher(), SqlExecMatcher(), GrammarMatcher()):
    register(_matcher)
