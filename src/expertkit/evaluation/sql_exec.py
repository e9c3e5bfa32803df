"""Execution accuracy for SQL: run the generated and the expected query on the same SQLite data.

Each query runs on a fresh in-memory database built from the case's `setup` script, made
read-only (`PRAGMA query_only`) so a generated `DELETE` can't change what the expected query
sees, and under a time budget (a progress handler interrupts runaway queries such as huge
cross joins). Result sets are compared as multisets of rows (order-insensitive) unless the
expected query contains ORDER BY, in which case the order must match too. Column names are
ignored (aliases differ legitimately); column count and values must match.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass

DEFAULT_TIMEOUT_S = 5.0
MAX_ROWS = 100_000
_PROGRESS_EVERY = 1000  # SQLite VM instructions between time checks
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_ORDER_BY = re.compile(r"\border\s+by\b", re.I)


class SqlRunError(Exception):
    """A query (or the setup) failed; the message is shown as the case's failure reason."""


@dataclass
class SqlOutcome:
    passed: bool
    reason: str


def _connect(setup: str, timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    deadline = [time.monotonic() + timeout_s]
    # returning non-zero aborts the running statement with "interrupted" (the setup is guarded too)
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), _PROGRESS_EVERY)
    try:
        conn.executescript(setup)
    except sqlite3.Error as exc:
        conn.close()
        stopped = "interrupted" in str(exc)
        raise SqlRunError(f"setup ran longer than {timeout_s:g} s and was stopped" if stopped else f"setup failed: {exc}") from None
    conn.execute("PRAGMA query_only = ON")
    deadline[0] = time.monotonic() + timeout_s  # the query gets its own budget
    return conn


def check_setup(setup: str) -> None:
    """Raise `SqlRunError` when the setup script does not run."""
    _connect(setup, DEFAULT_TIMEOUT_S).close()


def run_query(setup: str, query: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[tuple]:
    """Rows of ``query`` on a fresh database from ``setup``; errors raise `SqlRunError`."""
    sql = query.strip().rstrip(";").strip()
    if not sql:
        raise SqlRunError("empty query")
    conn = _connect(setup, timeout_s)
    try:
        cursor = conn.execute(sql)
        rows = cursor.fetchmany(MAX_ROWS + 1)
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise SqlRunError(f"query ran longer than {timeout_s:g} s and was stopped") from None
        raise SqlRunError(f"query failed: {exc}") from None
    except (sqlite3.Error, sqlite3.Warning, ValueError) as exc:  # Warning: several statements at once
        raise SqlRunError(f"query failed: {exc}") from None
    finally:
        conn.close()
    if len(rows) > MAX_ROWS:
        raise SqlRunError(f"query returned more than {MAX_ROWS} rows")
    return [tuple(r) for r in rows]


def is_ordered(query: str) -> bool:
    """Does the query ask for an order (ORDER BY outside string literals)?"""
    return bool(_ORDER_BY.search(_STRING_LITERAL.sub("''", query)))


def compare_sql(generated: str, expected: str, setup: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> SqlOutcome:
    """Execution accuracy of ``generated`` against ``expected`` on the ``setup`` data."""
    try:
        want = run_query(setup, expected, timeout_s=timeout_s)
    except SqlRunError as exc:
        return SqlOutcome(False, f"expected query: {exc}")
    try:
        got = run_query(setup, generated, timeout_s=timeout_s)
    except SqlRunError as exc:
        return SqlOutcome(False, str(exc))
    if want and got and len(want[0]) != len(got[0]):
        return SqlOutcome(False, f"{len(got[0])} column(s), expected {len(want[0])}")
    if is_ordered(expected):
        same = got == want
        how = "rows (in order)"
    else:
        same = Counter(got) == Counter(want)
        how = "rows (any order)"
    if same:
        return SqlOutcome(True, f"same {len(want)} {how}")
    return SqlOutcome(False, f"result differs: {len(got)} row(s), expected {len(want)} {how}; first got {got[:2]!r}, expected {want[:2]!r}")
