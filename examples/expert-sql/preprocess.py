#!/usr/bin/env python3
"""Dataset preprocessing for expert-sql: datasets/raw/* -> datasets/{train,validation,test}.jsonl.

`python preprocess.py` does the same as `expert-cli dataset prepare --manifest manifest.json`
(which also uses the HOOKS below). Everything declarative lives in manifest.json under
training.dataset: field_mapping, validation (min/max length, JSON outputs, required fields),
dedup_key, split, reasoning_ratio, system_prompt, input_role, seed. The hooks are for what a
manifest can't say; each gets one raw record (a dict) and returns a string or None.
Output lines are {"text": <Qwen3 native chat>, "messages": [...]}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from expertkit.data.pipeline import PrepareHooks, prepare
from expertkit.errors import ExpertError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "scripts"))
from sql_shapes import reasoning_from_plan  # noqa: E402  (the generator's plan -> reasoning renderer)


def system_prompt(example: dict) -> str | None:
    """The raw `input` field already holds `Dialect: sqlite` and the compact schema; it becomes
    the system turn as it is, so nothing to add here."""
    return None


def extra_validation(example: dict) -> str | None:
    """Reject answers that are not one SELECT statement ending with `;` (what grammar.gbnf allows)."""
    sql = str(example.get("output", "")).strip()
    if not sql.startswith("SELECT ") or not sql.endswith(";") or sql.count(";") != 1:
        return "output is not a single SELECT statement ending with ';'"
    return None


def reasoning(example: dict) -> str | None:
    """Brief reasoning derived from the example's query plan (tables, join, conditions, grouping,
    order, returned columns), so the think block always describes the query that follows.
    Falls back to the record's `reasoning` field; None (a direct example) when neither exists."""
    plan = example.get("plan")
    if isinstance(plan, dict) and plan.get("from") and plan.get("select"):
        return reasoning_from_plan(plan)
    text = example.get("reasoning")
    return text if isinstance(text, str) and text.strip() else None


HOOKS = PrepareHooks(system_prompt=system_prompt, extra_validation=extra_validation, reasoning=reasoning)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.json")
    parser.add_argument("--skip-invalid", action="store_true", help="write invalid records to datasets/processed/rejected.jsonl and go on")
    parser.add_argument("--seed", type=int, default=None, help="shuffle seed (default: training.dataset.seed)")
    args = parser.parse_args(argv)
    try:
        result = prepare(args.manifest, hooks=HOOKS, skip_invalid=args.skip_invalid, seed=args.seed)
    except ExpertError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(result.summary_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
