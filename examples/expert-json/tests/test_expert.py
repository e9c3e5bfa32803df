#!/usr/bin/env python3
"""Basic functionality tests for expert-json: every case in tests/test_cases.json.

    python tests/test_expert.py                                       # default adapter (below)
    python tests/test_expert.py weights/<model>/checkpoint-500        # a checkpoint directory
    python tests/test_expert.py weights/expert-json-<model>.v0.1.0.expert  # a packaged expert

The default adapter is training.packaging_checkpoint, else weights/<model>/final. Exit codes
follow `expert-cli test`: 0 all cases pass, 1 some fail, 2 bad test cases, 3 model not prepared.
"""

import sys
from pathlib import Path

from expertkit.cli.guide_scripts import run_cases

EXPERT_DIR = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    sys.exit(run_cases(EXPERT_DIR, sys.argv))
