#!/usr/bin/env python3
"""Edge cases and hard scenarios for expert-sql: the cases of category hard and edge.

    python tests/test_hard.py                                       # default adapter (below)
    python tests/test_hard.py weights/<model>/checkpoint-500        # a checkpoint directory
    python tests/test_hard.py weights/expert-sql-<model>.v0.1.0.expert  # a packaged expert

The default adapter is training.packaging_checkpoint, else weights/<model>/final. Exit codes
follow `expert-cli test`: 0 all hard and edge cases pass, 1 some fail, 2 bad test cases, 3 model not prepared.
"""

import sys
from pathlib import Path

from expertkit.errors import ExpertError
from expertkit.evaluation import run_suite

EXPERT_DIR = Path(__file__).resolve().parent.parent
CATEGORIES = ["hard", "edge"]


def adapter_arg(argv: list[str]) -> Path | None:
    """The adapter named on the command line (relative to here or to the expert), or None."""
    if len(argv) < 2:
        return None
    path = Path(argv[1])
    return path if path.exists() or path.is_absolute() else EXPERT_DIR / path


def main(argv: list[str]) -> int:
    try:
        suite = run_suite(EXPERT_DIR / "manifest.json", adapter_arg(argv), categories=CATEGORIES, measure_perf=False)
    except ExpertError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    for r in suite.expert:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.id}: {r.name}" + ("" if r.passed else f"  ({r.reason})"))
    print(f"Tests: {suite.passed}/{suite.total} passed ({suite.adapter})")
    return 0 if suite.all_passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
