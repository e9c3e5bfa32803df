#!/usr/bin/env python3
"""Dataset preprocessing for expert-json: datasets/raw/* -> datasets/{train,validation,test}.jsonl.

`python preprocess.py` does the same as `expert-cli dataset prepare --manifest manifest.json`
(which also uses the HOOKS below). Everything declarative lives in manifest.json under
training.dataset: field_mapping, validation (lengths, JSON outputs), reasoning_ratio (0: the
answers are direct, no think block), seed. The hook checks what a manifest can't say: that each
answer is valid under the JSON Schema its own system message gives.
Output lines are {"text": <Qwen3 native chat>, "messages": [...]}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from expertkit.data.pipeline import PrepareHooks, prepare
from expertkit.errors import ExpertError
from expertkit.runtime.grammar_slots import first_json_object

HERE = Path(__file__).resolve().parent


def system_prompt(example: dict) -> str | None:
    """The raw `input` field already holds the instruction and the schema; it becomes the system
    turn as it is, so nothing to add here."""
    return None


def extra_validation(example: dict) -> str | None:
    """Reject an answer that is not valid under the schema in the example's system text."""
    import jsonschema

    schema = first_json_object(str(example.get("input", "")))
    if schema is None:
        return "input carries no JSON Schema"
    try:
        jsonschema.validate(json.loads(str(example.get("output", ""))), schema)
    except json.JSONDecodeError as exc:
        return f"output is not JSON: {exc.msg}"
    except jsonschema.ValidationError as exc:
        return f"output is not valid under the schema: {exc.message}"
    return None


def reasoning(example: dict) -> str | None:
    """No think block: the schema grammar decides the structure, the text gives the values."""
    return None


HOOKS = PrepareHooks(system_prompt=system_prompt, extra_validation=extra_validation, reasoning=reasoning)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.json")
    parser.add_argument("--skip-invalid", action="store_true", help="write invalid records to datasets/processed/rejected.jsonl and go on")
    parser.add_argument("--seed", type=int, default=None, help="shuffle seed (default: training.dataset.seed)")
    args = parser.parse_args(argv)
    try:
        result = prepare(args.manifest, hooks=HOOKS, skip_invalid=args.skip_invalid, seed=args.seed)
    except ExpertError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(result.summary_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
