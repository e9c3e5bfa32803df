"""`make demo`: the guide's whole workflow on examples/expert-sql, end to end, with real work.

Runs every stage through the real `expert-cli` in a scratch copy (demo-out/expert-sql, made
anew each run, so running twice works) and ends with a summary: execution accuracy on the
hand-written set (expert vs base) and on the generated held-out suite, how close each suite is to
the training data (test/train overlap), win rate, training time and tokens/s, the package and the report.
EXPERT_HOME is the user's (default ~/.expert): the base model is converted once and the expert
stays installed, as a user would expect. Set DEMO_MAX_STEPS to shorten training, DEMO_CATEGORY to test one category of each suite and DEMO_OUT to work
elsewhere (the CI test uses all three).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "expert-sql"
OUT = Path(os.environ.get("DEMO_OUT") or ROOT / "demo-out").resolve()
WORK = OUT / "expert-sql"
BIN = Path(sys.executable).parent
CLI = str(BIN / "expert-cli")
# generated files of the example that must not leak into the scratch copy
SKIP = shutil.ignore_patterns("weights", "processed", "train.jsonl", "validation.jsonl", "test.jsonl", "report*", "__pycache__", "*.expert*")
HANDWRITTEN = "tests/handwritten_cases.json"
QUESTION = "How many employees earn more than 5000?"
QUESTION_SYSTEM = "Dialect: sqlite\nSchema:\nemployees(id, name, department, salary, hired_year)"


def stage(title: str) -> None:
    print(f"\n\033[1;36m==> {title}\033[0m", flush=True)


def run(*args: str, ok: tuple[int, ...] = (0,)) -> int:
    print("$ " + " ".join(a if " " not in a else repr(a) for a in args), flush=True)
    code = subprocess.call(list(args), cwd=WORK)
    if code not in ok:
        sys.exit(f"demo: `{' '.join(args[:3])} ...` failed with exit code {code}")
    return code


def capture(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    print("$ " + " ".join(a if " " not in a else repr(a) for a in args), flush=True)
    done = subprocess.run(list(args), cwd=WORK, capture_output=True, text=True)
    if done.returncode not in ok:
        sys.exit(f"demo: `{' '.join(args[:3])} ...` failed: {done.stderr.strip()}")
    return done.stdout


def fresh_copy() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    shutil.copytree(EXAMPLE, WORK, ignore=SKIP)


def set_max_steps(steps: int) -> None:
    """CI's reduced run: edit the scratch copy's manifest through the preserving rewriter."""
    from expertkit.manifest.rewrite import set_path, update_manifest

    def edit(raw: dict) -> None:
        set_path(raw, "training.config.max_steps", steps)
        set_path(raw, "training.config.save_steps", max(1, steps // 2))

    update_manifest(WORK / "manifest.json", edit)


def prepare_and_train(stages: int, collect: str) -> float:
    """Stages 1-5 of every demo, in the scratch copy at ``WORK``: base model, data (``collect`` says
    how it is made), validate, dataset prepare, train (DEMO_MAX_STEPS shortens it). Returns the
    training's wall time in seconds."""
    if os.environ.get("DEMO_MAX_STEPS"):
        set_max_steps(int(os.environ["DEMO_MAX_STEPS"]))
    stage(f"1/{stages} base model: one-time conversion of the embedded SmolLM2-135M-Instruct")
    run(CLI, "models", "prepare")
    stage(f"2/{stages} collect data ({collect})")
    run(str(BIN / "python"), "scripts/collect_data.py")
    stage(f"3/{stages} validate the manifest")
    run(CLI, "validate", "--manifest", "manifest.json")
    stage(f"4/{stages} prepare the dataset")
    run(CLI, "dataset", "prepare", "--manifest", "manifest.json")
    stage(f"5/{stages} train")
    t0 = time.monotonic()
    run(CLI, "train", "--manifest", "manifest.json", "--dataset", "datasets/train.jsonl", "--output", "weights/")
    return time.monotonic() - t0


def category_args() -> list[str]:
    """``--category`` for `test` when DEMO_CATEGORY (e.g. basic) is set: the CI's reduced run tests one
    category of each suite and stays bounded."""
    return ["--category", os.environ["DEMO_CATEGORY"]] if os.environ.get("DEMO_CATEGORY") else []


def main() -> None:
    started = time.monotonic()
    home = Path(os.environ.get("EXPERT_HOME") or Path.home() / ".expert").expanduser()
    stage("scratch copy of examples/expert-sql -> demo-out/expert-sql")
    fresh_copy()
    train_wall = prepare_and_train(12, "deterministic generator, held-out schemas kept for tests")
    stage("6/12 test: the generated held-out suite, then the hand-written set, each against the base model")
    adapter = "weights/smollm2-135m-instruct/final"
    only = category_args()
    raw = capture(CLI, "test", "--manifest", "manifest.json", "--adapter", adapter, "--compare-base", "--json", *only, ok=(0, 1))
    (WORK / "report-generated.json").write_text(raw)  # per-case answers of the generated suite, for reading failures
    generated = json.loads(raw)
    # the hand-written set is the score the package carries: questions as people ask them, on schemas
    # no training data uses (the generated suite shares the generator's phrasings: see its overlap)
    test_code = run(CLI, "test", "--manifest", "manifest.json", "--adapter", adapter, "--cases", HANDWRITTEN, "--compare-base", *only,
                    "--update-manifest", "--report", "report.html", ok=(0, 1))
    stage("7/12 package")
    run(CLI, "package", "--manifest", "manifest.json", "--weights", adapter)
    package = next((WORK / "weights").glob("*.expert"))
    stage("8/12 signing key")
    if (home / "keys" / "default").exists():
        print(f"using the existing key {home / 'keys' / 'default'}")
    else:
        run(CLI, "keygen")
    stage("9/12 sign")
    run(CLI, "sign", "--expert", str(package))
    stage("10/12 verify")
    run(CLI, "verify", str(package), ok=(0, 1))  # our own key may not be trusted yet: install --trust records it
    stage("11/12 install")
    run(CLI, "install", str(package), "--trust", "--force")
    run(CLI, "list")
    stage("12/12 ask the installed expert one question (grammar-constrained)")
    answer = json.loads(capture(CLI, "ask", "expert-sql", QUESTION, "--system", QUESTION_SYSTEM, "--json"))
    print(f"Q: {QUESTION}\nA: {answer['answer']}")
    summary(package, answer, train_wall, time.monotonic() - started, test_code, generated)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _overlap(q: dict) -> str:
    o = q.get("test_train_overlap") or {}
    if not o:
        return "not measured"
    return (f"{o['near_twin_share']:.0%} of cases with a near twin in training, {o['template_share']:.0%} same template, "
            f"mean max Jaccard {o['mean_max_jaccard']:.2f}")


def summary(package: Path, answer: dict, train_wall: float, total: float, test_code: int, generated: dict) -> None:
    manifest = json.loads((WORK / "manifest.json").read_text())
    q = manifest.get("quality_metrics", {})
    g = generated["quality_metrics"]
    train = json.loads((WORK / "weights" / "smollm2-135m-instruct" / "training_summary.json").read_text())
    sha = (package.parent / (package.name + ".sha256")).read_text().split()[0]
    expert_acc = float(q.get("benchmark_score") or 0) * 10
    base_acc = float(q.get("base_model_score") or 0) * 10
    generated_acc = float(g.get("benchmark_score") or 0) * 10
    generated_base = float(g.get("base_model_score") or 0) * 10
    tps = train.get("tokens_per_second") or train.get("throughput", {}).get("tokens_per_second")
    rows = [
        ("hand-written: expert", f"{expert_acc:.1f}% execution accuracy ({q.get('test_queries')} cases, {HANDWRITTEN})"),
        ("hand-written: base", f"{base_acc:.1f}% (same grammar)"),
        ("hand-written: overlap", _overlap(q)),
        ("generated suite: expert", f"{generated_acc:.1f}% ({g.get('test_queries')} held-out cases, tests/test_cases.json)"),
        ("generated suite: base", f"{generated_base:.1f}% (same grammar)"),
        ("generated suite: overlap", _overlap(g)),
        ("win rate vs base", f"{q.get('win_rate_vs_base')}"),
        ("training", f"{train_wall / 60:.1f} min wall, {train.get('steps', train.get('global_step'))} steps, "
                     f"{tps if tps is None else round(float(tps), 1)} tokens/s"),
        ("package", f"{_shown(package)} ({package.stat().st_size / 1e6:.1f} MB)"),
        ("sha256", sha),
        ("report", _shown(WORK / "report.html")),
        ("answer", answer["answer"]),
        ("demo wall time", f"{total / 60:.1f} min"),
    ]
    print("\n\033[1m== summary ==\033[0m")
    for key, value in rows:
        print(f"{key:>26}: {value}")
    targets_met = expert_acc >= 80 and base_acc <= 15 and generated_acc >= 90 and train_wall <= 600
    print(f"{'targets':>26}: {'met' if targets_met else 'NOT met'} (hand-written >= 80%, base <= 15%, generated >= 90%, "
          f"training <= 10 min){'' if test_code == 0 else '; expert did not beat the base by the margin'}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the guide's workflow end to end on an example expert")
    parser.add_argument("--expert", choices=("sql", "json"), default="sql", help="examples/expert-<name> (default: sql)")
    if parser.parse_args().expert == "json":
        from demo_json import main as main_json  # scripts/demo_json.py (`make demo-json`)

        main_json()
    else:
        main()
