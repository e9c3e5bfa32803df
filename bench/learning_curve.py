"""Learning curve: every checkpoint of one or more training runs, tested on one or more suites.

Why: issue #19 asks, where a target is out of reach, for the measured curve (steps / rank / data
vs accuracy). A checkpoint-N of an M-step cosine run is not an N-step run (its learning rate has
not decayed yet), so each row names its run's schedule and the learning rate left at that point.

A RUN is the directory `expert-cli train` wrote into: its manifest.json and weights/<model>/ with
checkpoint-N/, final/ and training_summary.json. Each (run, point, suite) is one
`expert-cli test --json` in a subprocess, saved to --results as soon as it is known, so a run cut
short (a shared machine, a deadline) resumes where it stopped. --lock FILE holds an exclusive
flock on FILE around each test, so model jobs of several people on one machine take turns instead
of slowing each other down.

    .venv/bin/python bench/learning_curve.py RUN [RUN ...] --results curve.json \\
        --suite generated=tests/test_cases.json --suite hand-written=tests/handwritten_cases.json
"""

from __future__ import annotations

import argparse
import fcntl
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CLI = str(Path(sys.executable).parent / "expert-cli")


@dataclass
class Point:
    run: Path
    label: str  # "checkpoint-32" or "final"
    adapter: Path
    step: int
    max_steps: int
    rank: int | None
    lr_left: float | None  # learning rate the schedule had reached; None at the end of the run
    tokens_seen: int | None
    elapsed_s: float | None
    tokens_per_s: float | None

    @property
    def key(self) -> str:
        return f"{self.run.name}/{self.label}"


def _last_lr(scheduler: Path) -> float | None:
    """The scheduler's ``_last_lr`` from expertkit's scheduler.json (a tree of name/value pairs)."""
    if not scheduler.exists():
        return None
    pairs = json.loads(scheduler.read_text()).get("tree", {}).get("__dict__", [])
    lrs = dict((name, value) for name, value in pairs).get("_last_lr")
    return float(lrs[0]) if lrs else None


def _checkpoint(run: Path, ckpt: Path, rank: int | None) -> Point:
    state = json.loads((ckpt / "trainer_state.json").read_text())
    logs = [entry for entry in state.get("log_history", []) if "train_runtime" in entry]
    step = int(state["global_step"])
    # the trainer logs its runtime every logging_steps, not at the save: scale the last log to the step
    elapsed = logs[-1]["train_runtime"] * step / logs[-1]["step"] if logs else None
    tokens = state.get("num_input_tokens_seen")
    return Point(run, ckpt.name, ckpt, step, int(state["max_steps"]), rank, _last_lr(ckpt / "scheduler.json"), tokens, elapsed,
                 tokens / elapsed if tokens and elapsed else None)


def find_points(run: Path) -> list[Point]:
    """Every checkpoint-N of ``run`` and its final adapter; a checkpoint at the final's step is the final."""
    summaries = sorted((run / "weights").glob("*/training_summary.json"))
    if not summaries:
        raise SystemExit(f"learning_curve: no weights/*/training_summary.json in {run}")
    summary = json.loads(summaries[0].read_text())
    weights = summaries[0].parent
    rank = summary.get("config", {}).get("training.config", {}).get("rank")
    final_step = int(summary["final"]["step"])
    ckpts = sorted(weights.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    points = [_checkpoint(run, c, rank) for c in ckpts if int(c.name.split("-")[1]) != final_step]
    points.append(Point(run, "final", weights / "final", final_step, int(summary["max_steps"]), rank, None,
                        summary.get("tokens_seen"), summary.get("wall_time_s"), summary.get("tokens_per_second")))
    return points


@contextmanager
def _held(lock: Path | None) -> Iterator[None]:
    """An exclusive flock on ``lock`` for the block (none without a lock file)."""
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def measure(point: Point, cases: Path, cli: str, lock: Path | None) -> dict:
    """One `expert-cli test --json` of ``point`` on ``cases``: passed, total and the passing case ids."""
    cmd = [cli, "test", "--manifest", str(point.run / "manifest.json"), "--adapter", str(point.adapter),
           "--cases", str(cases), "--json"]
    with _held(lock):
        done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1 = some cases failed, which a curve expects
        raise SystemExit(f"learning_curve: {' '.join(cmd)} failed ({done.returncode}): {done.stderr[-1500:]}")
    report = json.loads(done.stdout)
    # the passing ids let two points be compared case by case (what a longer run gains and loses)
    return {"passed": int(report["passed"]), "total": int(report["total"]),
            "passed_ids": sorted(case["id"] for case in report.get("expert", []) if case.get("passed"))}


def _pct(result: dict | None) -> str:
    return f"{100 * result['passed'] / result['total']:.1f}% ({result['passed']}/{result['total']})" if result else "-"


def render(points: list[Point], results: dict, suites: list[str]) -> str:
    """A markdown table: one row per point, one column per suite."""
    head = ["run", "point", "step / schedule", "lr left", "tokens seen", "training time", "tokens/s", *suites]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        cells = [p.run.name, p.label, f"{p.step} / {p.max_steps} (r={p.rank})",
                 "end" if p.lr_left is None else f"{p.lr_left:.1e}",
                 "-" if p.tokens_seen is None else f"{p.tokens_seen:,}",
                 "-" if p.elapsed_s is None else f"{p.elapsed_s / 60:.1f} min",
                 "-" if p.tokens_per_s is None else f"{p.tokens_per_s:.0f}",
                 *(_pct(results.get(f"{p.key}:{s}")) for s in suites)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _suites(specs: list[str]) -> dict[str, str]:
    pairs = [spec.partition("=") for spec in specs]
    if any(not sep for _, sep, _ in pairs):
        raise SystemExit("learning_curve: --suite takes NAME=CASES (a path relative to each run)")
    return {name: path for name, _, path in pairs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training run directories (manifest.json + weights/)")
    parser.add_argument("--suite", action="append", required=True, help="NAME=CASES, CASES relative to each run")
    parser.add_argument("--results", type=Path, required=True, help="JSON of measured points (read, then extended)")
    parser.add_argument("--points", help="only these labels, comma-separated (e.g. checkpoint-96,final)")
    parser.add_argument("--table-only", action="store_true", help="print the table of what is measured; test nothing")
    parser.add_argument("--cli", default=DEFAULT_CLI, help="the expert-cli to run (default: beside this Python)")
    parser.add_argument("--lock", type=Path, help="hold an exclusive flock on this file around each test")
    args = parser.parse_args(argv)
    suites = _suites(args.suite)
    wanted = set(args.points.split(",")) if args.points else None
    points = [p for run in args.runs for p in find_points(run.resolve()) if wanted is None or p.label in wanted]
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    for point in [] if args.table_only else points:
        for name, cases in suites.items():
            key = f"{point.key}:{name}"
            if key not in results:
                results[key] = measure(point, point.run / cases, args.cli, args.lock)
                args.results.write_text(json.dumps(results, indent=1) + "\n")  # saved at once: resumable
                print(f"{key}: {_pct(results[key])}", file=sys.stderr, flush=True)
    print(render(points, results, list(suites)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
