"""Composition measured: two trained experts alone and composed, each on its own test suite.

Loads the base model once, attaches both packages, and runs each test suite with every chain that
contains the suite's expert (``--chains``; default: each expert alone, then the compositions
below), in one process, so every figure is comparable:

- ``expert-json`` / ``expert-sql``: the expert alone (the baseline of its suite);
- ``expert-sql+expert-json``: both adapters (weight 1 each) under the resolver's rules: with equal
  ``load_order`` the last-named expert is the primary and gives the decoding settings (grammar,
  thinking switch) for every request — so one of the two suites runs under the other's grammar;
- ``expert-json+expert-sql``: the same adapters, the other expert primary;
- weighted chains (``expert-sql:0.6+expert-json:0.6``) scale each adapter's delta;
- ``expert-sql|expert-json``: alternatives, never composed (runtime/gating.py): per case the router,
  over the two packages' manifests and routing/ members, picks one and it runs alone with its own
  decoding settings (or the base model, when neither scores above zero). Its row also counts where
  each suite's cases were sent (``routed``): with a right choice the figure is the expert's own.

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
DEFAULT_CHAINS = ["expert-json", "expert-sql", "expert-sql+expert-json", "expert-json+expert-sql", "expert-sql|expert-json"]


def spread(cases: list[Any], limit: int | None) -> list[Any]:
    """``limit`` cases taken evenly over the suite (every category keeps its share)."""
    if not limit or limit >= len(cases):
        return cases
    step = len(cases) / limit
    return [cases[int(i * step)] for i in range(limit)]


def chain_names(spec: str) -> list[str]:
    from expertkit.runtime.compose import parse_spec, split_alternatives

    return list(dict.fromkeys(w.name for part in split_alternatives(spec) for w in parse_spec(part)))


def run_gated(engine: Any, router: Any, spec: str, cases: list[Any], batch_size: int) -> tuple[list[Any], dict[str, int]]:
    """Each case on the alternative the router picks for it (runtime/gating.py); (results, cases per pick)."""
    from expertkit.evaluation.runner import run_cases
    from expertkit.runtime.gating import choose

    groups: dict[str, list[Any]] = {}
    for case in cases:
        decision = choose(spec, router, case.input, case.system, engine.pool.lookup)
        groups.setdefault(decision.chosen or "", []).append(case)
    results = [r for chosen, group in groups.items() for r in run_cases(engine, group, experts=chosen or [], batch_size=batch_size)]
    return results, {chosen or "base model": len(group) for chosen, group in groups.items()}


def measure(engine: Any, suites: dict[str, list[Any]], chains: list[str], batch_size: int, router: Any = None) -> list[dict[str, Any]]:
    from expertkit.evaluation.runner import run_cases
    from expertkit.runtime.compose import is_gated

    rows = []
    for spec in chains:
        gated = is_gated(spec)
        plan = None if gated else engine.resolve(spec)
        row: dict[str, Any] = {"chain": spec, "applied": plan.chain.names if plan else None,
                               "decided_by": plan.decided_by if plan else {"settings": "the chosen one"}, "suites": {}}
        for expert, cases in suites.items():
            if expert not in chain_names(spec):
                continue
            t0 = time.monotonic()
            routed = None
            if gated:
                results, routed = run_gated(engine, router, spec, cases, batch_size)
            else:
                results = run_cases(engine, cases, experts=spec, batch_size=batch_size)
            row["suites"][expert] = {"passed": sum(r.passed for r in results), "total": len(results),
                                     "accuracy": round(sum(r.passed for r in results) / len(results), 4),
                                     "seconds": round(time.monotonic() - t0, 1), **({"routed": routed} if gated else {})}
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
            routed = f", routed {', '.join(f'{k} {v}' for k, v in s['routed'].items())}" if s.get("routed") else ""
            cells.append(f"{s['accuracy']:.1%} ({s['passed']}/{s['total']}){delta}{routed}")
        chain = r["chain"].replace("|", "\\|")  # a bare | would end the table cell
        lines.append(f"| `{chain}` | {r['decided_by'].get('settings')} | " + " | ".join(cells) + " |")
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
    parser.add_argument("--embedder", default="default",
                        help="the router's embedder for a|b rows: default (minilm when installed), minilm, base, a model dir, "
                             "or none (manifest signals alone)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from expertkit.evaluation.cases import load_cases
    from expertkit.runtime.adapter_source import open_adapter
    from expertkit.runtime.compose import is_gated
    from expertkit.runtime.engine import InferenceEngine

    suites = {"expert-json": spread(load_cases(args.json_cases), args.limit),
              "expert-sql": spread(load_cases(args.sql_cases), args.limit)}
    with open_adapter(args.json_expert) as source:  # the base model is the one the json package names
        with InferenceEngine.from_manifest(source.path / "manifest.json", source) as engine:
            sql = engine.attach(args.sql_expert)
            router = None
            if any(is_gated(spec) for spec in args.chains):  # the router over the two packages (not installed)
                from expertkit.runtime.routing import Router

                router = Router.from_dirs([source.path, sql.source.path], None if args.embedder == "none" else args.embedder)
            rows = measure(engine, suites, args.chains, args.batch_size, router)
    table = markdown(rows, suites)
    if args.json:
        print(json.dumps({"rows": rows, "markdown": table, "cases": {k: len(v) for k, v in suites.items()}}))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
