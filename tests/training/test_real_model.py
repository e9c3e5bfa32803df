"""The default base model (SmolLM2-135M-Instruct) trains through `expert-cli train` (slow: converts the model)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_default_model_trains_a_few_steps(cli, make_expert, tmp_path):
    manifest = make_expert("smollm2-135m-instruct", n=16, config={
        "max_steps": 3, "save_steps": 2, "batch_size": 2, "max_seq_length": 256, "learning_rate": 2e-4,
        "evaluation_strategy": "steps", "eval_steps": 2,
    })
    res = cli("train", "-m", manifest, "--json-logs")
    assert res.exit_code == 0, res
    run_dir = manifest.parent / "weights" / "smollm2-135m-instruct"
    summary = json.loads((run_dir / "training_summary.json").read_text())
    assert summary["steps"] == 3 and summary["base_model"]["source"] == "alias" and len(summary["base_model"]["sha256"]) == 64
    assert (run_dir / "checkpoint-2" / "adapter_model.safetensors").is_file() and (run_dir / "final" / "adapter_config.json").is_file()
    assert (run_dir / "loss.png").is_file()
