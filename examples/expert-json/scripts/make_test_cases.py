#!/usr/bin/env python3
"""Build tests/test_cases.json from the held-out domains only (never seen in training), deterministically.

    python scripts/make_test_cases.py

Eight cases per held-out domain (48 in all): three flat ones (basic), three with a null or a
boolean to infer (edge), two with nested objects or arrays (hard). Every case is matched with
`json_equal` (key order and number spelling don't matter; true is not 1) and carries its JSON
Schema in `system`, where the expert's grammar slot finds it at decoding time.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from json_domains import DOMAINS, HELDOUT_DOMAINS  # noqa: E402
from json_tasks import check_answer, make_example  # noqa: E402

OUT = HERE.parent / "tests" / "test_cases.json"
QUOTA = {"basic": 3, "edge": 3, "hard": 2}


def build_cases(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    cases = []
    for name in HELDOUT_DOMAINS:
        need = dict(QUOTA)
        seen: set[str] = set()
        for _attempt in range(2000):
            if not any(need.values()):
                break
            ex = make_example(DOMAINS[name], rng)
            if not need[ex["shape"]] or ex["instruction"] in seen:
                continue
            check_answer(ex)
            seen.add(ex["instruction"])
            need[ex["shape"]] -= 1
            n = QUOTA[ex["shape"]] - need[ex["shape"]]
            cases.append({
                "id": f"{name}_{ex['shape']}_{n}",
                "name": f"{ex['shape']} extraction {n} on the held-out {name} domain",
                "input": ex["instruction"],
                "expected_output": ex["output"],
                "description": f"{DOMAINS[name].entity} (domain never seen in training) -> JSON; whole object must match",
                "category": ex["shape"],
                "match": "json_equal",
                "system": ex["input"],
            })
        else:
            raise RuntimeError(f"{name}: could not fill the quota {need}")
    return cases


def main() -> int:
    cases = build_cases()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"test_cases": cases}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(OUT)
    print(f"{len(cases)} test cases over {', '.join(HELDOUT_DOMAINS)} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
