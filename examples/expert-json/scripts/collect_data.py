#!/usr/bin/env python3
"""Generate the expert's raw text -> JSON extraction data, deterministically, and check every answer.

    python scripts/collect_data.py [--count 3000] [--seed 7]

Writes:
  datasets/raw/json_train.jsonl          examples over the 18 training domains (read by `dataset prepare`)
  datasets/heldout/json_heldout.jsonl    examples over the 6 held-out domains only (never trained on;
                                          tests/test_cases.json is built from the same domains by
                                          scripts/make_test_cases.py)

Each line: instruction (the free text; the user turn), input (the instruction and the JSON
Schema of the wanted object; the system turn), output (the object as JSON), plus domain, schema
and shape (basic / edge / hard) for inspection. Every answer is validated against its schema
with jsonschema; one that fails stops the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from json_domains import HELDOUT_DOMAINS, TRAIN_DOMAINS  # noqa: E402
from json_tasks import TRAIN_MIX, Mix, check_answer, examples  # noqa: E402

EXPERT_DIR = HERE.parent


def generate(domains: tuple[str, ...], count: int, seed: int, mix: Mix = TRAIN_MIX) -> list[dict]:
    rows = examples(domains, count, seed, mix)
    for row in rows:
        check_answer(row)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="generate the raw text -> JSON examples")
    parser.add_argument("--count", type=int, default=3000, help="training examples (default 3000)")
    parser.add_argument("--heldout-count", type=int, default=200, help="held-out examples (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=EXPERT_DIR, help="expert directory to write into")
    args = parser.parse_args(argv)
    train = generate(TRAIN_DOMAINS, args.count, args.seed)
    heldout = generate(HELDOUT_DOMAINS, args.heldout_count, args.seed + 1, Mix())  # the test cases' own mix
    write_jsonl(args.out / "datasets" / "raw" / "json_train.jsonl", train)
    write_jsonl(args.out / "datasets" / "heldout" / "json_heldout.jsonl", heldout)
    shapes = Counter(e["shape"] for e in train)
    print(f"train: {len(train)} examples over {len(TRAIN_DOMAINS)} domains ({', '.join(TRAIN_DOMAINS)})")
    print(f"held out: {len(heldout)} examples over {', '.join(HELDOUT_DOMAINS)}")
    print("shapes: " + ", ".join(f"{k} {v}" for k, v in sorted(shapes.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
