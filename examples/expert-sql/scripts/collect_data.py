#!/usr/bin/env python3
"""Generate the expert's raw text-to-SQL data, deterministically, and check that every query runs.

    python scripts/collect_data.py [--count 2000] [--seed 7]

Writes:
  datasets/raw/sql_train.jsonl           examples over the training schemas (read by `dataset prepare`)
  datasets/heldout/sql_heldout.jsonl     examples over the held-out schemas only (never trained on;
                                          used for evaluation probes; tests/test_cases.json is built
                                          from the same schemas by scripts/make_test_cases.py)

Each line: instruction (the question), input (`Dialect: sqlite` + the compact schema, which the
pipeline puts in the system turn), output (the SQL), reasoning (brief, derived from the query
plan), plus schema, shape and plan for inspection. Every query is executed with sqlite3 on a
database built from the schema's deterministic rows; one that fails stops the run.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sql_asks import SHAPES, make_example  # noqa: E402
from sql_schemas import HELDOUT_SCHEMAS, MIXED_SCHEMAS, SCHEMAS, TRAIN_SCHEMAS, make_database  # noqa: E402
from sql_shapes import reasoning_from_plan  # noqa: E402

EXPERT_DIR = HERE.parent
DB_VARIANTS = 8  # row sets per schema, so values in questions vary
ALL_SCHEMAS = {**SCHEMAS, **MIXED_SCHEMAS}
SINGLE_TABLE_SHARE = 0.2  # single-table questions shown with only their table in the schema
MIXED_SHARE = 0.5  # share of training examples drawn from recombined schemas (see sql_schemas.py)
SHAPE_WEIGHTS = {name: 1.0 for name in SHAPES}
SHAPE_WEIGHTS.update({"join_filter": 1.5, "join_group": 1.5, "two_conditions": 1.3, "group_aggregate": 1.2})
# how people ask (sql_asks.py): values without their column, lookups, totals, fragments, joins by a value
SHAPE_WEIGHTS.update({"filter_value": 2.0, "lookup": 1.5, "count_value": 1.5, "sum_total": 1.5, "group_terse": 1.5,
                      "top_terse": 1.5, "join_value": 2.0, "join_terse": 1.5})
# words that stand for a column and short fragments (sql_everyday.py): "youngest", "cheaper than 20", "Which genres have ..."
SHAPE_WEIGHTS.update({"superlative": 1.5, "filter_terse": 1.5, "having_plural": 1.5, "two_value": 1.2, "aggregate_terse": 1.2,
                      "join_verb": 1.5})


def single_table(ex: dict, schema) -> dict:
    """The example with only the table it queries in the schema: many real schemas have one table."""
    table = next(t for t in schema.tables if t.name == ex["plan"]["from"])
    plan = {**ex["plan"], "mentions": [m for m in ex["plan"]["mentions"] if m[0] == table.singular]}
    return {**ex, "input": "Dialect: sqlite\nSchema:\n" + table.compact(), "reasoning": reasoning_from_plan(plan), "plan": plan}


def check_sql(setup: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on a fresh in-memory database built by ``setup`` (raises sqlite3.Error)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(setup)
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def generate(schemas: tuple[str, ...], count: int, seed: int, mixed: tuple[str, ...] = ()) -> list[dict]:
    """``count`` unique examples over ``schemas`` (and ``mixed`` ones, MIXED_SHARE of them); the
    same arguments always give the same list."""
    rng = random.Random(seed)
    variants = {name: DB_VARIANTS for name in schemas} | {name: 1 for name in mixed}
    dbs = {(name, v): make_database(ALL_SCHEMAS[name], v) for name, n in variants.items() for v in range(n)}
    setups = {key: db.setup_sql() for key, db in dbs.items()}
    shapes, weights = list(SHAPE_WEIGHTS), list(SHAPE_WEIGHTS.values())
    seen: set[tuple[str, str, str]] = set()
    out: list[dict] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 50:
            raise RuntimeError(f"only {len(out)} unique examples after {attempts} attempts")
        name = rng.choice(mixed) if mixed and rng.random() < MIXED_SHARE else rng.choice(schemas)
        variant = rng.randrange(variants[name])
        shape = rng.choices(shapes, weights)[0]
        ex = make_example(shape, ALL_SCHEMAS[name], dbs[(name, variant)], rng)
        if ex is None:
            continue
        if not ex["plan"].get("join") and rng.random() < SINGLE_TABLE_SHARE:
            ex = single_table(ex, ALL_SCHEMAS[name])
        key = (ex["instruction"], ex["input"], ex["output"])
        if key in seen:
            continue
        try:
            check_sql(setups[(name, variant)], ex["output"])
        except sqlite3.Error as exc:
            raise RuntimeError(f"generated SQL does not run on schema {name}: {ex['output']} ({exc})") from exc
        seen.add(key)
        out.append(ex)
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="generate the raw text-to-SQL examples")
    parser.add_argument("--count", type=int, default=2000, help="training examples (default 2000)")
    parser.add_argument("--heldout-count", type=int, default=200, help="held-out examples (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=EXPERT_DIR, help="expert directory to write into")
    args = parser.parse_args(argv)
    train = generate(TRAIN_SCHEMAS, args.count, args.seed, mixed=tuple(MIXED_SCHEMAS))
    heldout = generate(HELDOUT_SCHEMAS, args.heldout_count, args.seed + 1)
    write_jsonl(args.out / "datasets" / "raw" / "sql_train.jsonl", train)
    write_jsonl(args.out / "datasets" / "heldout" / "sql_heldout.jsonl", heldout)
    shapes = Counter(e["shape"] for e in train)
    print(f"train: {len(train)} examples over {len(TRAIN_SCHEMAS)} schemas ({', '.join(TRAIN_SCHEMAS)}) "
          f"and {len(MIXED_SCHEMAS)} recombinations of their tables")
    print(f"held out: {len(heldout)} examples over {', '.join(HELDOUT_SCHEMAS)}")
    print("shapes: " + ", ".join(f"{k} {v}" for k, v in sorted(shapes.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
