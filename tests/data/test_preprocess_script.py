"""The scaffold's preprocess.py: `python preprocess.py` == `expert-cli dataset prepare`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from tests.data.builders import sql_examples

TEMPLATE = Path(str(resources.files("expertkit.scaffold") / "templates" / "preprocess.py"))
SPLITS = ("train.jsonl", "validation.jsonl", "test.jsonl", "processed/rejected.jsonl", "processed/duplicates.jsonl")
RAW = sql_examples(30, reasoning_every=3) + sql_examples(2) + ["{broken"]


def run_script(expert: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "preprocess.py", *args], cwd=expert, capture_output=True, text=True, timeout=120)


def outputs(expert: Path) -> dict[str, bytes]:
    return {name: (expert / "datasets" / name).read_bytes() for name in SPLITS}


def with_template(manifest: Path, text: str | None = None) -> Path:
    target = manifest.parent / "preprocess.py"
    if text is None:
        shutil.copy(TEMPLATE, target)
    else:
        target.write_text(text, encoding="utf-8")
    return manifest.parent


def test_script_and_cli_give_identical_files(cli, make_expert):
    by_script = with_template(make_expert({"a.jsonl": RAW}))
    by_cli = with_template(make_expert({"a.jsonl": RAW}))
    proc = run_script(by_script, "--skip-invalid")
    assert proc.returncode == 0, proc.stderr
    assert "loaded 33 = written 30 + invalid 1 + duplicates 2" in proc.stdout
    res = cli("dataset", "prepare", "--manifest", by_cli / "manifest.json", "--skip-invalid")
    assert res.exit_code == 0, res
    assert outputs(by_script) == outputs(by_cli)
    assert (by_script / "manifest.json").read_text() == (by_cli / "manifest.json").read_text()


def test_script_reports_bad_input_like_the_cli(make_expert):
    expert = with_template(make_expert({"a.jsonl": RAW}))
    proc = run_script(expert)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "error: datasets/raw/a.jsonl:33: Expecting property name enclosed in double quotes (column 2)"
    assert "Traceback" not in proc.stderr


def test_cli_uses_the_hooks_of_preprocess_py(cli, make_expert):
    custom = TEMPLATE.read_text(encoding="utf-8")
    custom = custom.replace(
        'def extra_validation(example: dict) -> str | None:\n    """A reason to reject this example (it goes to datasets/processed/rejected.jsonl), or None."""\n    return None',
        'def extra_validation(example: dict) -> str | None:\n    return "has a 7" if "7" in example["output"] else None',
    )
    assert "has a 7" in custom
    by_script = with_template(make_expert({"a.jsonl": sql_examples(20)}), custom)
    by_cli = with_template(make_expert({"a.jsonl": sql_examples(20)}), custom)
    assert run_script(by_script, "--skip-invalid").returncode == 0
    res = cli("dataset", "prepare", "--manifest", by_cli / "manifest.json", "--skip-invalid")
    assert res.exit_code == 0 and "hooks from preprocess.py" in res.stdout
    assert "invalid 2" in res.stdout  # 7 and 17
    assert outputs(by_script) == outputs(by_cli)
    res = cli("dataset", "prepare", "--manifest", by_cli / "manifest.json", "--no-hooks")
    assert "invalid 0" in res.stdout


def test_broken_preprocess_py_is_one_line(cli, make_expert):
    expert = with_template(make_expert({"a.jsonl": sql_examples(3)}), "raise RuntimeError('half-edited')\n")
    res = cli("dataset", "prepare", "--manifest", expert / "manifest.json")
    assert res.exit_code == 2 and "cannot load its hooks: RuntimeError: half-edited" in res.stderr


def test_in_a_scaffolded_expert(cli, tmp_path):
    res = cli("new", "sql", cwd=tmp_path)
    assert res.exit_code == 0, res
    expert = tmp_path / "expert-sql"
    rendered = (expert / "preprocess.py").read_bytes().replace(b"expert-sql", b"${name}")
    assert rendered.replace(Path(sys.executable).as_posix().encode(), b"${python}") == TEMPLATE.read_bytes()
    raw = expert / "datasets" / "raw" / "sql.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in sql_examples(10)), encoding="utf-8")
    proc = run_script(expert)
    assert proc.returncode == 0, proc.stderr
    assert "loaded 10 = written 10 + invalid 0 + duplicates 0" in proc.stdout
    assert cli("dataset", "validate", expert / "datasets" / "train.jsonl").exit_code == 0


def test_hooks_module_may_use_dataclasses_and_must_export_prepare_hooks(cli, make_expert):
    code = (
        "from dataclasses import dataclass\n"
        "from expertkit.data.pipeline import PrepareHooks\n\n"
        "@dataclass\nclass Rule:\n    word: str\n\n"
        "RULE = Rule('17')\n"
        "HOOKS = PrepareHooks(extra_validation=lambda ex: 'banned' if RULE.word in ex['output'] else None)\n"
    )
    expert = with_template(make_expert({"a.jsonl": sql_examples(20)}), code)
    res = cli("dataset", "prepare", "--manifest", expert / "manifest.json", "--skip-invalid")
    assert res.exit_code == 0, res
    assert "invalid 1" in res.stdout
    (expert / "preprocess.py").write_text("HOOKS = {'reasoning': None}\n", encoding="utf-8")
    res = cli("dataset", "prepare", "--manifest", expert / "manifest.json")
    assert res.exit_code == 2 and "HOOKS must be an expertkit.data.pipeline.PrepareHooks" in res.stderr


def test_python_without_expertkit_runs_it_with_expertkits_python(cli, tmp_path):
    import os

    assert cli("new", "sql", cwd=tmp_path).exit_code == 0
    expert = tmp_path / "expert-sql"
    (expert / "datasets" / "raw" / "sql.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sql_examples(10)), encoding="utf-8")
    bare = getattr(sys, "_base_executable", None) or shutil.which("python3")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert subprocess.run([bare, "-c", "import expertkit"], env=env, capture_output=True).returncode != 0
    proc = subprocess.run([bare, "preprocess.py"], cwd=expert, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "loaded 10 = written 10" in proc.stdout, proc.stderr
    (expert / "preprocess.py").write_text((expert / "preprocess.py").read_text().replace(Path(sys.executable).as_posix(), "/nowhere/python"))
    proc = subprocess.run([bare, "preprocess.py"], cwd=expert, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no expertkit" in proc.stderr and ".venv/bin/python preprocess.py" in proc.stderr
    assert "Traceback" not in proc.stderr
