#!/usr/bin/env python3
"""Build tests/test_cases.json from the held-out schemas only (never seen in training), deterministically.

    python scripts/make_test_cases.py

Every case is matched with `sql_exec`: its `setup` creates and fills an SQLite database, and the
expert's query and `expected_output` are both run on it. A case is kept only when the expected
query returns rows and its result differs from plausible wrong queries (the WHERE/HAVING
dropped, the order flipped, the other table queried), so a wrong filter or column fails.
"""

from __future__ import annotations

import copy
import json
import random
import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sql_asks import CATEGORY, SHAPES, make_example  # noqa: E402
from sql_schemas import HELDOUT_SCHEMAS, SCHEMAS, make_database  # noqa: E402
from sql_shapes import build_sql  # noqa: E402

TEST_DB_SEED = 1000  # a row set that the held-out evaluation file does not use either
OUT = HERE.parent / "tests" / "test_cases.json"


def _rows(setup: str, sql: str) -> list[tuple] | None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(setup)
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def mutants(plan: dict, other_table: str) -> list[str]:
    """Plausible wrong queries for ``plan``."""
    out = []
    for key in ("where", "having", "limit"):
        if plan.get(key):
            p = copy.deepcopy(plan)
            p.pop(key)
            out.append(build_sql(p))
    if plan.get("order_by"):
        p = copy.deepcopy(plan)
        p["order_by"][1] = "ASC" if p["order_by"][1] == "DESC" else "DESC"
        out.append(build_sql(p))
    if not plan.get("join"):
        p = copy.deepcopy(plan)
        p["from"] = other_table
        out.append(build_sql(p))
    return out


def discriminates(setup: str, plan: dict, expected: str, other_table: str) -> bool:
    want = _rows(setup, expected)
    if not want:
        return False
    ordered = bool(plan.get("order_by"))
    for wrong in mutants(plan, other_table):
        got = _rows(setup, wrong)
        if got is not None and (got == want if ordered else sorted(map(repr, got)) == sorted(map(repr, want))):
            return False
    return True


def build_cases(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    cases = []
    for name in HELDOUT_SCHEMAS:
        schema = SCHEMAS[name]
        db = make_database(schema, TEST_DB_SEED)
        setup = db.setup_sql()
        for shape in SHAPES:
            made = False
            for _attempt in range(50):
                ex = make_example(shape, schema, db, rng)
                if ex is None:
                    continue
                made = True
                other = schema.parent.name if ex["plan"]["from"] == schema.child.name else schema.child.name
                if discriminates(setup, ex["plan"], ex["output"], other):
                    break
            else:
                if not made:  # the shape does not fit this schema (no column that "youngest" could mean)
                    continue
                raise RuntimeError(f"no discriminating case for {name}/{shape}")
            cases.append({
                "id": f"{name}_{shape}",
                "name": f"{shape.replace('_', ' ')} on the held-out {name} schema",
                "input": ex["instruction"],
                "expected_output": ex["output"],
                "description": f"{shape} over {name} (schema never seen in training); execution accuracy",
                "category": CATEGORY[shape],
                "match": "sql_exec",
                "system": schema.system(),
                "setup": setup,
            })
    return cases


def main() -> int:
    cases = build_cases()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"test_cases": cases}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(OUT)
    print(f"{len(cases)} test cases over {', '.join(HELDOUT_SCHEMAS)} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
