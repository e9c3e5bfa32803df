"""The body of the guide's test scripts (tests/test_expert.py, test_hard.py, test_comparison.py).

A front end like the commands (it prints and returns exit codes), so it lives on the CLI side.
`expert-cli new` writes those scripts as short files that call these functions, so every expert
gets fixes here instead of carrying its own copy. Exit codes follow `expert-cli test`:
0 pass, 1 some cases fail (or the expert doesn't beat the base), 2 bad test cases, 3 model not prepared.
"""

from __future__ import annotations

from pathlib import Path

from expertkit.cli.errors import report
from expertkit.errors import ExpertError


def adapter_arg(expert_dir: Path, argv: list[str]) -> Path | None:
    """The adapter named on the command line (relative to the cwd or to the expert), or None."""
    if len(argv) < 2:
        return None
    path = Path(argv[1])
    return path if path.exists() or path.is_absolute() else expert_dir / path


def run_cases(expert_dir: Path, argv: list[str], categories: list[str] | None = None) -> int:
    """Run the selected categories (None: every case) on the expert; print one line per case."""
    from expertkit.evaluation import run_suite

    try:
        suite = run_suite(expert_dir / "manifest.json", adapter_arg(expert_dir, argv), categories=categories, measure_perf=False)
    except ExpertError as exc:
        return report(exc)
    for r in suite.expert:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.id}: {r.name}" + ("" if r.passed else f"  ({r.reason})"))
    print(f"Tests: {suite.passed}/{suite.total} passed ({suite.adapter})")
    return 0 if suite.all_passed else 1


def run_comparison(expert_dir: Path, argv: list[str]) -> int:
    """Every case on the expert and on the base model; 0 when the expert beats the base by the margin."""
    from expertkit.evaluation import run_suite

    try:
        suite = run_suite(expert_dir / "manifest.json", adapter_arg(expert_dir, argv), compare_base=True, measure_perf=False)
    except ExpertError as exc:
        return report(exc)
    base = {r.id: r for r in suite.base}
    for r in suite.expert:
        print(f"{r.id}: expert {'PASS' if r.passed else 'FAIL'}, base {'PASS' if base[r.id].passed else 'FAIL'}")
    q = suite.quality
    print(f"Expert {q['benchmark_score']}/10 vs base {q['base_model_score']}/10; win rate {q['win_rate_vs_base']}; "
          f"margin {suite.margin} (needs > {suite.min_improvement})")
    return 0 if suite.beats_base else 1
