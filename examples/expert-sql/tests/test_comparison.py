#!/usr/bin/env python3
"""Compare expert-sql with its base model on every case in tests/test_cases.json.

    python tests/test_comparison.py                                  # default adapter
    python tests/test_comparison.py weights/<model>/checkpoint-500   # or any adapter / .expert

Both run with the same prompt template and decoding settings. Exit 0 when the expert's score
(0-10, 10 x pass rate) beats the base model's by more than evaluation.min_improvement points;
1 otherwise; 2 bad test cases; 3 model not prepared (as `expert-cli test --compare-base`).
"""

import sys
from pathlib import Path

from expertkit.errors import ExpertError
from expertkit.evaluation import run_suite

EXPERT_DIR = Path(__file__).resolve().parent.parent


def adapter_arg(argv: list[str]) -> Path | None:
    """The adapter named on the command line (relative to here or to the expert), or None."""
    if len(argv) < 2:
        return None
    path = Path(argv[1])
    return path if path.exists() or path.is_absolute() else EXPERT_DIR / path


def main(argv: list[str]) -> int:
    try:
        suite = run_suite(EXPERT_DIR / "manifest.json", adapter_arg(argv), compare_base=True, measure_perf=False)
    except ExpertError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    base = {r.id: r for r in suite.base}
    for r in suite.expert:
        print(f"{r.id}: expert {'PASS' if r.passed else 'FAIL'}, base {'PASS' if base[r.id].passed else 'FAIL'}")
    q = suite.quality
    print(f"Expert {q['benchmark_score']}/10 vs base {q['base_model_score']}/10; win rate {q['win_rate_vs_base']}; "
          f"margin {suite.margin} (needs > {suite.min_improvement})")
    return 0 if suite.beats_base else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
