#!/usr/bin/env python3
"""Dataset preprocessing for ${name}: datasets/raw/* -> datasets/{train,validation,test}.jsonl.

`python preprocess.py` does the same as `expert-cli dataset prepare --manifest manifest.json`
(which also uses the HOOKS below). Everything declarative lives in manifest.json under
training.dataset: field_mapping, validation (min/max length, JSON outputs, required fields),
dedup_key, split, reasoning_ratio, system_prompt, input_role, seed. The hooks are for what a
manifest can't say; each gets one raw record (a dict) and returns a string or None.
Output lines are {"text": <Qwen3 native chat>, "messages": [...]}.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:
    from expertkit.data.pipeline import PrepareHooks, prepare
    from expertkit.errors import ExpertError
except ModuleNotFoundError:  # e.g. `python preprocess.py` with the system Python: use expertkit's own
    EXPERTKIT_PYTHON = r"${python}"  # the interpreter `expert-cli new` ran with
    if os.path.isfile(EXPERTKIT_PYTHON) and not os.environ.get("EXPERTKIT_REEXEC"):
        os.environ["EXPERTKIT_REEXEC"] = "1"
        os.execv(EXPERTKIT_PYTHON, [EXPERTKIT_PYTHON, *sys.argv])
    sys.exit("error: this Python has no expertkit; run `.venv/bin/python preprocess.py` from the expertkit checkout "
             "(or activate its .venv), or use `expert-cli dataset prepare`")

HERE = Path(__file__).resolve().parent


def system_prompt(example: dict) -> str | None:
    """System text for this example; None keeps the default (its `system` field, else
    training.dataset.system_prompt). The `input` field is still appended on its own line.
    E.g. return f"Dialect: {example['dialect']}\\nSchema:\\n{example['schema']}"."""
    return None


def extra_validation(example: dict) -> str | None:
    """A reason to reject this example (it goes to datasets/processed/rejected.jsonl), or None."""
    return None


def reasoning(example: dict) -> str | None:
    """Brief reasoning for the <think> block, or None to leave the example direct.
    Never invent it: None is better than made-up text. Default: the `reasoning` field."""
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
