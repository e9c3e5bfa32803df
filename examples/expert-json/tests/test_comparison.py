#!/usr/bin/env python3
"""Compare expert-json with its base model on every case in tests/test_cases.json.

    python tests/test_comparison.py                                  # default adapter
    python tests/test_comparison.py weights/<model>/checkpoint-500   # or any adapter / .expert

Both run with the same prompt template and decoding settings. Exit 0 when the expert's score
(0-10, 10 x pass rate) beats the base model's by more than evaluation.min_improvement points;
1 otherwise; 2 bad test cases; 3 model not prepared (as `expert-cli test --compare-base`).
"""

import sys
from pathlib import Path

from expertkit.cli.guide_scripts import run_comparison

EXPERT_DIR = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    sys.exit(run_comparison(EXPERT_DIR, sys.argv))
