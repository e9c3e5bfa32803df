"""sql_exec on real in-memory SQLite: order rules, errors, read-only, runaway guard."""

from __future__ import annotations

from expertkit.evaluation.sql_exec import compare_sql, is_ordered, run_query

SETUP = """
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, age INT);
INSERT INTO users(name, age) VALUES ('ann', 31), ('bob', 25), ('cy', 40), ('dee', 31);
"""


def test_order_insensitive_without_order_by():
    assert compare_sql("SELECT name FROM users WHERE age > 30 ORDER BY name DESC", "SELECT name FROM users WHERE age > 30", SETUP).passed


def test_order_matters_with_order_by():
    expected = "SELECT name FROM users ORDER BY age, name"
    assert compare_sql("SELECT name FROM users ORDER BY age ASC, name ASC;", expected, SETUP).passed
    out = compare_sql("SELECT name FROM users ORDER BY name", expected, SETUP)
    assert not out.passed and "in order" in out.reason


def test_duplicates_count():
    assert not compare_sql("SELECT DISTINCT age FROM users", "SELECT age FROM users", SETUP).passed


def test_column_count_and_errors_are_reasons():
    out = compare_sql("SELECT name, age FROM users", "SELECT name FROM users", SETUP)
    assert not out.passed and "2 column(s), expected 1" in out.reason
    out = compare_sql("SELEC name FROM users", "SELECT name FROM users", SETUP)
    assert not out.passed and out.reason.startswith("query failed:") and "syntax error" in out.reason
    out = compare_sql("SELECT 1; SELECT 2", "SELECT 1", SETUP)
    assert not out.passed and "query failed" in out.reason


def test_generated_query_cannot_write():
    out = compare_sql("DELETE FROM users", "SELECT name FROM users", SETUP)
    assert not out.passed and "readonly" in out.reason.lower().replace("-", "")
    assert len(run_query(SETUP, "SELECT * FROM users")) == 4


def test_runaway_query_is_stopped():
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    out = compare_sql(endless, "SELECT 1", SETUP, timeout_s=0.3)
    assert not out.passed and "longer than 0.3 s" in out.reason


def test_order_by_inside_a_string_is_not_an_order():
    assert is_ordered("select * from t order  by x")
    assert not is_ordered("SELECT 'order by' FROM t")


def test_runaway_setup_is_stopped():
    import pytest

    from expertkit.evaluation.sql_exec import SqlRunError

    endless = "CREATE TABLE t AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n;"
    with pytest.raises(SqlRunError, match="setup ran longer than 0.3 s"):
        run_query(endless, "SELECT 1", timeout_s=0.3)
