"""Builders for the data tests: manifests, raw rows, the guide's example line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GUIDE_LINE = (
    '{"text": "<|im_start|>system\\nDialect: sql\\nSchema:\\nusers(id, name, email)<|im_end|>\\n'
    '<|im_start|>user\\nFind all users<|im_end|>\\n<|im_start|>assistant\\nSELECT * FROM users;<|im_end|>\\n"}'
)


def base_manifest(dataset: dict[str, Any] | None = None, base_model: str = "tiny-model", template: str = "qwen3") -> dict[str, Any]:
    return {
        "name": "expert-sql",
        "version": "0.1.0",
        "schema_version": "2.0",
        "description": "test expert",
        "_comment": "kept by the rewriter",
        "base_models": [{"name": base_model, "prompt_template": template}],
        "training": {
            "dataset": {"field_mapping": {"instruction": "instruction", "input": "input", "response": "output"}, **(dataset or {})},
            "config": {"rank": 12, "alpha": 24, "max_seq_length": 2048},
        },
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return path


def sql_examples(n: int, *, reasoning_every: int = 0, start: int = 0) -> list[dict[str, Any]]:
    """n distinct instruction/input/output examples; every k-th carries a reasoning field."""
    rows = []
    for i in range(start, start + n):
        row = {"instruction": f"Find users older than {i}", "input": "Dialect: sql\nSchema:\nusers(id, name, age)",
               "output": f"SELECT * FROM users WHERE age > {i};"}
        if reasoning_every and i % reasoning_every == 0:
            row["reasoning"] = f"Filter users on age above {i}."
        rows.append(row)
    return rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
