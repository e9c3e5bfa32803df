"""Every matcher, passing and failing; the registry refuses unknown and duplicate names."""

from __future__ import annotations

import json

import pytest

from expertkit.evaluation.cases import TestCase
from expertkit.evaluation.matchers import MATCHERS, get_matcher, normalize, register

SETUP = "CREATE TABLE users(id INTEGER, name TEXT, age INT); INSERT INTO users VALUES (1,'ann',31),(2,'bob',25),(3,'cy',40);"
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}
GRAMMAR = 'root ::= "SELECT " [a-z]+ " FROM " [a-z]+ ";"'


def make(match: str, expected, **kw) -> TestCase:
    case = TestCase(id="c1", input="q", expected_output=expected, match=match, **kw)
    get_matcher(match).validate(case)
    return case


CASES = [
    # (match, expected, extra, passing answer, failing answer)
    ("exact", "SELECT 1;", {}, " SELECT 1;\n", "select 1;"),
    ("normalized", "SELECT  name\nFROM users;", {}, "select name from USERS", "SELECT name FROM user"),
    ("contains", "FROM users", {}, "SELECT * FROM users WHERE 1", "SELECT * FROM orders"),
    ("regex", r"SELECT \w+ FROM users;?", {}, "SELECT name FROM users;", "xSELECT name FROM users"),
    ("json_equal", '{"a": [1, 2], "b": true}', {}, '{"b": true, "a": [1, 2]}', '{"a": [1, 2], "b": 1}'),
    ("json_equal", {"a": 1}, {}, '{"a": 1}', "not json"),
    ("json_schema", SCHEMA, {}, '{"name": "ann", "age": 3}', '{"name": "ann", "age": "3"}'),
    ("json_schema", json.dumps(SCHEMA), {}, '{"name": "x"}', '{"age": 3}'),
    ("sql_exec", "SELECT name FROM users WHERE age > 30", {"setup": SETUP},
     "select u.name as n from users u where u.age >= 31;", "SELECT name FROM users"),
    ("grammar", "SELECT a FROM b;", {"grammar_text": GRAMMAR}, "SELECT name FROM users;", "SELECT name FROM users"),
]


@pytest.mark.parametrize(("match", "expected", "extra", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matcher_pass_and_fail(match, expected, extra, good, bad):
    case = make(match, expected, **extra)
    ok = get_matcher(match).match(good, case)
    assert ok.passed, ok.reason
    no = get_matcher(match).match(bad, case)
    assert not no.passed and no.reason


def test_every_issue_matcher_is_registered():
    assert set(MATCHERS) == {"exact", "normalized", "contains", "regex", "json_equal", "json_schema", "sql_exec", "grammar",
                             "keywords", "format"}


def test_registry_is_checked():
    with pytest.raises(KeyError, match="unknown match 'fuzzy'"):
        get_matcher("fuzzy")
    with pytest.raises(ValueError, match="already registered"):
        register(MATCHERS["exact"])


@pytest.mark.parametrize(
    ("match", "expected", "extra", "message"),
    [
        ("regex", "SELECT (", {}, "invalid regex"),
        ("json_equal", "{not json", {}, "not valid JSON"),
        ("json_schema", {"type": "nonsense"}, {}, "not a valid JSON Schema"),
        ("sql_exec", "SELECT 1", {}, "needs `setup`"),
        ("sql_exec", "SELECT 1", {"setup": "CREATE TABLE t(;"}, "broken sql_exec setup"),
        ("sql_exec", "SELECT nope FROM users", {"setup": SETUP}, "does not run"),
        ("grammar", "x", {}, "needs a grammar"),
        ("grammar", "x", {"grammar_text": 'root ::= ( "a"'}, "grammar does not compile"),
        ("grammar", "SELECT 1", {"grammar_text": GRAMMAR}, "not a sentence of the grammar"),
        ("exact", {"a": 1}, {}, "must be a string"),
    ],
)
def test_validation_refuses_bad_cases(match, expected, extra, message):
    with pytest.raises(ValueError, match=message):
        make(match, expected, **extra)


def test_json_equal_keeps_bool_and_int_apart():
    case = make("json_equal", "[true, 1]")
    assert get_matcher("json_equal").match("[true, 1]", case).passed
    assert not get_matcher("json_equal").match("[1, true]", case).passed


def test_normalize():
    assert normalize("  SELECT *\n\tFROM t ;; ") == "select * from t"
