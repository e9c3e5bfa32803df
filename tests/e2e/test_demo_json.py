"""`make demo-json` end to end on the real default model, with a reduced step count and one category.

Runs `scripts/demo.py --expert json` (what `make demo-json` runs) in a temp dir and a temp
EXPERT_HOME and checks the artifacts: the package carries the fallback grammar, the expert is
installed, the test ran against the base model, and `ask` with a schema of its own answered with an
object valid under that schema (the schema is the grammar, whatever the few steps taught).
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
STEPS = 4


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_json_reduced(tmp_path, real_model, expert_home):
    import jsonschema

    env = dict(os.environ, EXPERT_HOME=str(expert_home), DEMO_OUT=str(tmp_path / "out"), DEMO_MAX_STEPS=str(STEPS), DEMO_CATEGORY="basic",
               HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--expert", "json"], env=env, capture_output=True,
                          text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== summary (expert-json) ==" in done.stdout
    work = tmp_path / "out" / "expert-json"
    summary = json.loads((work / "weights" / "smollm2-135m-instruct" / "training_summary.json").read_text())
    assert summary["steps"] == STEPS
    package = next((work / "weights").glob("expert-json-smollm2-135m-instruct.v0.1.0.expert"))
    with tarfile.open(package) as tar:
        assert {"manifest.json", "adapter_model.safetensors", "grammar.gbnf", "SIGNATURE"} <= set(tar.getnames())
    assert "expert-json" in json.loads((expert_home / "registry.json").read_text())["experts"]
    q = json.loads((work / "manifest.json").read_text())["quality_metrics"]
    assert q["test_queries"] == 18 and q["base_model_score"] is not None  # the held-out basic cases, expert and base
    sys.path.insert(0, str(ROOT / "scripts"))
    from demo_json import QUESTION_SYSTEM

    answer = done.stdout.split("\nA: ", 1)[1].split("\n", 1)[0]
    jsonschema.validate(json.loads(answer), json.loads(QUESTION_SYSTEM.split("\n", 1)[1]))
