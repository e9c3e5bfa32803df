"""The main job end to end on the real default model, with a reduced step count.

Runs `scripts/demo.py` (the very script `make demo` runs) through a subprocess, in a temp dir and
a temp EXPERT_HOME, and checks every artifact and that the expert beats the base model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = 12


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_pipeline_reduced(tmp_path, real_model, expert_home):
    env = dict(os.environ, EXPERT_HOME=str(expert_home), DEMO_OUT=str(tmp_path / "out"), DEMO_MAX_STEPS=str(STEPS), DEMO_CATEGORY="basic",
               HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], env=env, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== summary ==" in done.stdout
    work = tmp_path / "out" / "expert-sql"
    weights = work / "weights" / "smollm2-135m-instruct"
    for rel in ("datasets/train.jsonl", "datasets/validation.jsonl", "datasets/test.jsonl", "report.html", "report.md"):
        assert (work / rel).is_file(), rel
    for rel in ("final/adapter_config.json", "final/adapter_model.safetensors", "training_summary.json", "loss.png",
                f"checkpoint-{STEPS}/adapter_model.safetensors"):
        assert (weights / rel).is_file(), rel
    assert not [p for p in work.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl"}], "pickle files in the output"
    summary = json.loads((weights / "training_summary.json").read_text())
    assert summary["steps"] == STEPS and summary["speedups"]["fused_lora"] > 0
    package = next((work / "weights").glob("expert-sql-smollm2-135m-instruct.v0.1.0.expert"))
    with tarfile.open(package) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "adapter_config.json", "adapter_model.safetensors", "grammar.gbnf", "DIGESTS", "SIGNATURE"} <= names
    assert (package.parent / (package.name + ".sha256")).is_file()
    registry = json.loads((expert_home / "registry.json").read_text())
    assert "expert-sql" in registry["experts"]
    q = json.loads((work / "manifest.json").read_text())["quality_metrics"]
    assert float(q["benchmark_score"]) > float(q["base_model_score"]), q
    assert q["test_queries"] >= 30  # the hand-written set's basic category (33 questions)
