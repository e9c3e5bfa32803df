"""Test cases in the reference template's shape load; keyword and format checks are matchers;
may_fail is an expected failure; `test --check` checks a cases file without a model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from expertkit.errors import TestCaseError as CaseError
from expertkit.evaluation.cases import load_cases
from expertkit.evaluation.matchers import judge

CORPUS = Path(__file__).parents[1] / "manifest" / "reference_corpus" / "expert-refsql"


def _cases(tmp_path, cases) -> Path:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"test_cases": cases}), encoding="utf-8")
    return path


def test_reference_shape_loads(tmp_path):
    cases = load_cases(CORPUS / "tests/test_cases.json")
    first, second = cases
    assert first.input == "Find users with id 3" and first.keywords == ["SELECT", "users"] and first.expected_format == "sql"
    assert first.match == "normalized"
    assert second.match == "keywords" and second.may_fail and second.failure_reason.startswith("Known limitation")
    anonymous = load_cases(_cases(tmp_path, [{"prompt": "p", "expected_format": "json"}]))[0]
    assert anonymous.id == "case-1" and anonymous.match == "format"


def test_keywords_format_and_main_match_all_apply():
    case = load_cases(CORPUS / "tests/test_cases.json")[0]
    assert judge("SELECT * FROM users WHERE id = 3;", case).passed
    verdict = judge("select * from orders where id = 3", case)
    assert not verdict.passed and "missing keyword(s): users" in verdict.reason
    assert "does not have format sql" in judge("Users are people", case).reason


def test_may_fail_is_reported_as_an_expected_failure():
    case = load_cases(CORPUS / "tests/test_cases.json")[1]
    verdict = judge("SELECT 1", case)
    assert not verdict.passed
    assert verdict.reason.startswith("expected failure (may_fail: Known limitation: no_recursive_cte): missing keyword(s)")


@pytest.mark.parametrize("fmt, good, bad", [("json", '{"a": 1}', "{a: 1}"), ("cypher", "MATCH (n) RETURN n", "SELECT 1")])
def test_format_matcher(tmp_path, fmt, good, bad):
    case = load_cases(_cases(tmp_path, [{"prompt": "p", "expected_format": fmt}]))[0]
    assert judge(good, case).passed and not judge(bad, case).passed


@pytest.mark.parametrize("case, text", [
    ({"prompt": "p"}, "missing `expected_output` (or expected_keywords / expected_format)"),
    ({"prompt": "p", "expected_keywords": "SELECT"}, "`expected_keywords` must be a list"),
    ({"prompt": "p", "expected_format": "yaml"}, "expected_format 'yaml' is not known"),
    ({"prompt": "p", "expected_keywords": ["a"], "may_fail": "yes"}, "`may_fail` must be true or false"),
])
def test_bad_reference_cases_name_the_case(tmp_path, case, text):
    with pytest.raises(CaseError, match="case 'case-1'") as info:
        load_cases(_cases(tmp_path, [case]))
    assert text in info.value.message


def test_check_validates_cases_and_grammar_without_a_model(cli, tmp_path):
    root = tmp_path / "x"
    shutil.copytree(CORPUS, root)
    res = cli("test", "--check", "--manifest", root / "manifest.json")
    assert res.exit_code == 0, res.output
    assert "2 case(s)" in res.stdout and "1 expected_output(s) checked against" in res.stdout
    cases = json.loads((root / "tests/test_cases.json").read_text())
    cases["test_cases"][0]["expected_output"] = "SELECT * FROM users WHERE id = 3 AND 1"
    (root / "tests/test_cases.json").write_text(json.dumps(cases))
    res = cli("test", "--check", "--manifest", root / "manifest.json", "--json")
    assert res.exit_code == 2
    payload = json.loads(res.stdout)
    assert payload["ok"] is False and "case 'select_users': expected_output is not a sentence of grammar.gbnf" in payload["problems"][0]
    cases["test_cases"][1]["expected_keywords"] = 5
    (root / "tests/test_cases.json").write_text(json.dumps(cases))
    res = cli("test", "--check", "--manifest", root / "manifest.json")
    assert res.exit_code == 2 and "expected_keywords" in res.output
