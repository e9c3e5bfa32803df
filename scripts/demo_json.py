"""`make demo-json` (= `python scripts/demo.py --expert json`): the guide's workflow on examples/expert-json.

The same stages as `make demo` (scripts/demo.py, whose helpers it uses) on the second example
expert: a scratch copy in demo-out/expert-json, the generator, validate, dataset prepare, train,
`test --compare-base` on the 48 held-out cases (six domains no training text comes from; the JSON
Schema of each case is in its system message and becomes its grammar), package, sign, verify,
install, and one `ask` with a schema of the user's own. Ends with a summary: held-out accuracy of
the expert vs the base model under the same grammar, per category, training time and tokens/s.
DEMO_MAX_STEPS, DEMO_CATEGORY and DEMO_OUT work as in `make demo`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import demo
from demo import CLI, OUT, ROOT, SKIP, capture, run, stage

EXAMPLE = ROOT / "examples" / "expert-json"
WORK = OUT / "expert-json"
QUESTION = "Hi, I'm selling my road bike: a 2019 Canyon Endurace, size 56, $1450, barely used, no pedals included."
QUESTION_SYSTEM = ("Extract the listing as JSON matching this schema:\n"
                   '{"type":"object","properties":{"brand":{"type":"string"},"year":{"type":"integer"},'
                   '"price":{"type":"number"},"pedals_included":{"type":"boolean"},"color":{"type":["string","null"]}},'
                   '"required":["brand","year","price","pedals_included","color"]}')


def fresh_copy() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    shutil.copytree(EXAMPLE, WORK, ignore=SKIP)


def main() -> None:
    started = time.monotonic()
    demo.WORK = WORK  # the shared run/capture helpers work in this expert's scratch copy
    home = Path(os.environ.get("EXPERT_HOME") or Path.home() / ".expert").expanduser()
    stage("scratch copy of examples/expert-json -> demo-out/expert-json")
    fresh_copy()
    train_wall = demo.prepare_and_train(11, "deterministic generator; six domains held out for the tests")
    stage("6/11 test on the held-out domains, against the base model with the same schema grammar")
    adapter = "weights/smollm2-135m-instruct/final"
    only = demo.category_args()
    result = json.loads(capture(CLI, "test", "--manifest", "manifest.json", "--adapter", adapter, "--compare-base", *only,
                                "--update-manifest", "--report", "report.html", "--json", ok=(0, 1)))
    stage("7/11 package")
    run(CLI, "package", "--manifest", "manifest.json", "--weights", adapter)
    package = next((WORK / "weights").glob("*.expert"))
    stage("8/11 signing key")
    if (home / "keys" / "default").exists():
        print(f"using the existing key {home / 'keys' / 'default'}")
    else:
        run(CLI, "keygen")
    stage("9/11 sign, then verify")
    run(CLI, "sign", "--expert", str(package))
    run(CLI, "verify", str(package), ok=(0, 1))  # our own key may not be trusted yet: install --trust records it
    stage("10/11 install")
    run(CLI, "install", str(package), "--trust", "--force")
    stage("11/11 ask the installed expert with a schema of our own (the schema is the grammar)")
    answer = json.loads(capture(CLI, "ask", "expert-json", QUESTION, "--system", QUESTION_SYSTEM, "--json"))
    print(f"Q: {QUESTION}\nA: {answer['answer']}")
    summary(package, answer, result, train_wall, time.monotonic() - started)


def _by_category(rows: list[dict] | None) -> str:
    if not rows:
        return "-"
    cats = sorted({r["category"] for r in rows})
    return ", ".join(f"{c} {sum(r['passed'] for r in rows if r['category'] == c)}/{sum(r['category'] == c for r in rows)}"
                     for c in cats)


def summary(package: Path, answer: dict, result: dict, train_wall: float, total: float) -> None:
    train = json.loads((WORK / "weights" / "smollm2-135m-instruct" / "training_summary.json").read_text())
    q = result["quality_metrics"]
    expert_acc = float(q.get("benchmark_score") or 0) * 10
    base_acc = float(q.get("base_model_score") or 0) * 10
    tps = train.get("tokens_per_second")
    rows = [
        ("held-out: expert", f"{expert_acc:.1f}% whole-object json_equal ({result['total']} cases, tests/test_cases.json)"),
        ("held-out: base", f"{base_acc:.1f}% (same JSON-Schema grammar)"),
        ("expert by category", _by_category(result.get("expert"))),
        ("base by category", _by_category(result.get("base"))),
        ("overlap", demo._overlap(q)),
        ("training", f"{train_wall / 60:.1f} min wall, {train.get('steps')} steps, {tps} tokens/s"),
        ("package", f"{demo._shown(package)} ({package.stat().st_size / 1e6:.1f} MB)"),
        ("report", demo._shown(WORK / "report.html")),
        ("answer", answer["answer"]),
        ("demo wall time", f"{total / 60:.1f} min"),
    ]
    print("\n\033[1m== summary (expert-json) ==\033[0m")
    for key, value in rows:
        print(f"{key:>22}: {value}")
    met = expert_acc >= 90 and base_acc <= 20 and train_wall <= 600
    print(f"{'targets':>22}: {'met' if met else 'NOT met'} (held-out >= 90%, base <= 20%, training <= 10 min)")


if __name__ == "__main__":
    main()
