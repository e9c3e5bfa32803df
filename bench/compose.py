"""Composition measured: two trained experts alone and composed, each on its own test suite.

Loads the base model once, attaches both packages, and runs each test suite with every chain that
contains the suite's expert (``--chains``; default: each expert alone, then the compositions
below), in one process, so every figure is comparable:

- ``expert-json`` / ``expert-sql``: the expert alone (the baseline of its suite);
- ``expert-sql+expert-json``: both adapters (weight 1 each) under the resolver's rules: with equal
  ``load_order`` the last-named expert is the primary and gives the decoding settings (grammar,
  thinking switch) for every request — so one of the two suites runs under the other's grammar;
- ``expert-json+expert-sql``: the same adapters, the other expert primary;
- weighted chains (``expert-sql:0.6+expert-json:0.6``) scale each adapter's delta.

A suite's accuracy under a chain is the share of its cases whose answer passes the case's matcher
(sql_exec for SQL, json_equal for JSON). ``--limit N`` takes N cases spread evenly over a suite.

    .venv/bin/python bench/compose.py --json-expert path/expert-json.expert --sql-expert path/expert-sql.expert --limit 48
    .venv/bin/python bench/compose.py ... --chains expert-json expert-sql:0.6+expert-json --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"expert-json": ROOT / "examples" / "expert-json" / "tests" / "test_cases.json",
          "expert-sql": ROOT / "examples" / "expert-sql" / "tests" / "test_cases.json"}
DEFAULT_CHAINS = ["expert-json", "expert-sql", "expert-sql+expert-json", "expert-json+expert-sql"]


def spread(cases: list[Any], limit: int | None) -> list[Any]:
    """``limit`` cases taken evenly over the suite (every category keeps its share)."""
    if not limit or limit >= len(cases):
        return cases
    step = len(cases) / limit
    return [cases[int(i * step)] for i in range(limit)]


def chain_names(spec: str) -> list[str]:
    return [part.split(":")[0].split("@")[0].strip() for part in spec.split("+")]


def measure(engine: Any, suites: dict[str, list[Any]], chains: list[str], batch_size: int) -> list[dict[str, Any]]:
    from expertkit.evaluation.runner import run_cases

    rows = []
    for spec in chains:
        plan = engine.resolve(spec)
        row: dict[str, Any] = {"chain": spec, "applied": plan.chain.names, "decided_by": plan.decided_by, "suites": {}}
        for expert, cases in suites.items():
            if expert not in chain_names(spec):
                continue
            t0 = time.monotonic()
            results = run_cases(engine, cases, experts=spec, batch_size=batch_size)
            row["suites"][expert] = {"passed": sum(r.passed for r in results), "total": len(results),
                                     "accuracy": round(sum(r.passed for r in results) / len(results), 4),
                                     "seconds": round(time.monotonic() - t0, 1)}
            print(f"{spec:<34} {expert:<12} {row['suites'][expert]['passed']}/{len(results)}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], suites: dict[str, list[Any]]) -> str:
    names = list(suites)
    alone = {n: next((r["suites"][n]["accuracy"] for r in rows if r["chain"] == n and n in r["suites"]), None) for n in names}
    head = "| chain | decoding from | " + " | ".join(f"{n} suite ({len(suites[n])} cases)" for n in names) + " |"
    lines = [head, "|" + "---|" * (2 + len(names))]
    for r in rows:
        cells = []
        for n in names:
            s = r["suites"].get(n)
            if s is None:
                cells.append("-")
                continue
            delta = "" if alone[n] is None or r["chain"] == n else f" ({(s['accuracy'] - alone[n]) * 100:+.1f} pts)"
            cells.append(f"{s['accuracy']:.1%} ({s['passed']}/{s['total']}){delta}")
        lines.append(f"| `{r['chain']}` | {r['decided_by'].get('settings')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-expert", type=Path, required=True, help="expert-json package (.expert) or directory")
    parser.add_argument("--sql-expert", type=Path, required=True, help="expert-sql package (.expert) or directory")
    parser.add_argument("--json-cases", type=Path, default=SUITES["expert-json"])
    parser.add_argument("--sql-cases", type=Path, default=SUITES["expert-sql"])
    parser.add_argument("--chains", nargs="+", default=DEFAULT_CHAINS)
    parser.add_argument("--limit", type=int, default=None, help="cases per suite, spread evenly (default: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from expertkit.evaluation.cases import load_cases
    from expertkit.runtime.adapter_source import open_adapter
    from expertkit.runtime.engine import InferenceEngine

    suites = {"expert-json": spread(load_cases(args.json_cases), args.limit),
              "expert-sql": spread(load_cases(args.sql_cases), args.limit)}
    with open_adapter(args.json_expert) as source:  # the base model is the one the json package names
        with InferenceEngine.from_manifest(source.path / "manifest.json", source) as engine:
            engine.attach(args.sql_expert)
            rows = measure(engine, suites, args.chains, args.batch_size)
    table = markdown(rows, suites)
    if args.json:
        print(json.dumps({"rows": rows, "markdown": table, "cases": {k: len(v) for k, v in suites.items()}}))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
