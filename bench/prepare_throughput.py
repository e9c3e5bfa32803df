#!/usr/bin/env python3
"""Benchmark `dataset prepare`: 100k generated examples in a temp expert dir, examples/s and time.

Target: <= 30 s for 100k examples on 2 CPU cores. Usage:
    .venv/bin/python bench/prepare_throughput.py [--examples N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from expertkit.data.pipeline import prepare

TABLES = ["users", "orders", "products", "customers", "invoices", "events", "posts", "comments"]
COLUMNS = ["id", "name", "email", "age", "price", "created_at", "status", "total", "title", "city"]


def manifest() -> dict:
    return {
        "name": "expert-bench",
        "version": "0.1.0",
        "schema_version": "2.0",
        "description": "prepare throughput benchmark",
        "base_models": [{"name": "bench-model", "prompt_template": "qwen3"}],
        "training": {
            "config": {"rank": 12, "alpha": 24},
            "dataset": {
                "field_mapping": {"instruction": "instruction", "input": "input", "response": "output"},
                "system_prompt": "Dialect: sql",
                "validation": {"min_length": 5, "max_length": 2000},
            },
        },
    }


def write_raw(raw_dir: Path, n: int, seed: int = 0) -> None:
    """n examples over two jsonl files; ~80% carry a reasoning field, ~1% repeat an earlier one."""
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(n):
        if lines and rng.random() < 0.01:
            lines.append(lines[rng.randrange(len(lines))])
            continue
        table = rng.choice(TABLES)
        cols = rng.sample(COLUMNS, 3)
        ex = {
            "instruction": f"List the {cols[1]} of {table} where {cols[2]} is above {i}",
            "input": f"Schema:\n{table}({', '.join(cols)})",
            "output": f"SELECT {cols[1]} FROM {table} WHERE {cols[2]} > {i};",
        }
        if rng.random() < 0.8:
            ex["reasoning"] = f"Filter {table} on {cols[2]} and project {cols[1]}."
        lines.append(json.dumps(ex, ensure_ascii=False))
    half = len(lines) // 2
    (raw_dir / "part1.jsonl").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    (raw_dir / "part2.jsonl").write_text("\n".join(lines[half:]) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp expert dir")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="prepare-bench-"))
    try:
        (root / "datasets" / "raw").mkdir(parents=True)
        (root / "manifest.json").write_text(json.dumps(manifest(), indent=2), encoding="utf-8")
        write_raw(root / "datasets" / "raw", args.examples)
        start = time.perf_counter()
        result = prepare(root / "manifest.json")
        elapsed = time.perf_counter() - start
        print("\n".join(result.summary_lines()))
        print(f"prepare: {result.loaded} examples in {elapsed:.2f} s = {result.loaded / elapsed:,.0f} examples/s "
              f"(target: 100k in <= 30 s)")
        if args.keep:
            print(f"kept: {root}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
