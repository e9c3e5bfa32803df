"""The guide's scripts (tests/test_expert.py, test_hard.py, test_comparison.py), as `expert-cli new`
writes them, run through subprocess in a fresh expert with a real adapter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from expertkit.manifest.model import model_slug
from expertkit.manifest.rewrite import set_path, update_manifest
from tests.runtime.expert_factory import case, write_cases

PROMPT = "list the users"


@pytest.fixture(scope="module")
def answers(tiny_engine) -> dict[str, str]:
    return {"expert": tiny_engine.generate([PROMPT])[0].answer, "base": tiny_engine.generate([PROMPT], experts=[])[0].answer}


@pytest.fixture
def expert(tmp_path, tiny_llama_dir, tiny_adapter, answers) -> Path:
    from expertkit.scaffold.create import create_expert

    root = create_expert("demo", tmp_path / "expert-demo", base_model=str(tiny_llama_dir), adapter="lora").path
    update_manifest(root / "manifest.json", lambda raw: set_path(raw, "training.decoding.max_new_tokens", 8))
    slug = model_slug(str(tiny_llama_dir.resolve()))
    shutil.copytree(tiny_adapter, root / "weights" / slug / "final")
    write_cases(root, [case("basic_ok", answers["expert"]), case("edge_ok", r"(?s).*", match="regex", category="edge"),
                       case("hard_ok", answers["expert"], category="hard")])
    return root


def script(expert: Path, name: str, *args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}  # EXPERT_HOME comes from the autouse fixture
    return subprocess.run([sys.executable, f"tests/{name}", *map(str, args)], cwd=expert, env=env, capture_output=True,
                          text=True, timeout=300)


def test_scripts_are_generated_by_new(expert):
    for name in ("test_expert.py", "test_hard.py", "test_comparison.py"):
        text = (expert / "tests" / name).read_text()
        assert "expert-demo" in text and "${name}" not in text and "from expertkit.cli.guide_scripts" in text


def test_test_expert_on_adapter_dir_package_and_default(expert, tiny_llama_dir, tmp_path):
    slug = model_slug(str(tiny_llama_dir.resolve()))
    res = script(expert, "test_expert.py", f"weights/{slug}/final")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Tests: 3/3 passed" in res.stdout and "PASS  basic_ok" in res.stdout

    from expertkit.packaging.build import build_package

    package = build_package(expert / "manifest.json", weights=expert / "weights" / slug / "final",
                            output=expert / "weights" / "expert-demo.v0.1.0.expert").path
    res = script(expert, "test_expert.py", package.relative_to(expert))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "expert-demo.v0.1.0.expert" in res.stdout

    write_cases(expert, [case("basic_ok", "not what it says")])
    res = script(expert, "test_expert.py")  # default adapter: weights/<slug>/final
    assert res.returncode == 1 and "Tests: 0/1 passed" in res.stdout and "FAIL  basic_ok" in res.stdout


def test_test_hard_runs_hard_and_edge_only(expert, answers):
    write_cases(expert, [case("basic_bad", "nope"), case("edge_ok", r"(?s).*", match="regex", category="edge"),
                         case("hard_ok", answers["expert"], category="hard")])
    res = script(expert, "test_hard.py")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Tests: 2/2 passed" in res.stdout and "basic_bad" not in res.stdout


def test_test_comparison_and_bad_cases(expert):
    res = script(expert, "test_comparison.py")
    assert res.returncode == 0, res.stderr[-2000:]  # expert passes basic_ok/hard_ok, base does not
    assert "vs base" in res.stdout and "win rate" in res.stdout
    write_cases(expert, [case("broken_1", "SELECT (", match="regex")])
    res = script(expert, "test_comparison.py")
    assert res.returncode == 2 and "case 'broken_1': invalid regex" in res.stderr and "Traceback" not in res.stderr
