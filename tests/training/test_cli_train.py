"""`expert-cli train` end to end on a tiny model, and one clear error (exit 2) per bad input."""

from __future__ import annotations

import json

import pytest

from .conftest import example, write_jsonl


def test_train_writes_checkpoints_final_summary_and_plot(cli, make_expert, tiny_llama_dir):
    manifest = make_expert(tiny_llama_dir, config={
        "max_steps": 4, "save_steps": 2, "evaluation_strategy": "steps", "eval_steps": 2, "load_best_model_at_end": True,
        "fp16": True, "use_unsloth": True, "optim": "paged_adamw_8bit", "warmup_ratio": 0.25,
    }, base={"quantization": "int4"})
    res = cli("train", "--manifest", manifest, cwd=manifest.parent)
    assert res.exit_code == 0, res
    for flag in ("fp16", "use_unsloth", "optim"):
        assert res.stderr.count(f"training.config.{flag}") == 1, res.stderr  # one warning each
    assert res.stderr.count("quantization int4") == 1, res.stderr
    assert "eval_loss" in res.stderr and "✓ trained lora" in res.stdout
    run_dir = manifest.parent / "weights" / tiny_llama_dir.name.replace("_", "-")
    assert {p.name for p in run_dir.iterdir()} >= {"checkpoint-2", "checkpoint-4", "final", "training_summary.json", "loss.png"}
    assert (run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = json.loads((run_dir / "training_summary.json").read_text())
    assert s["steps"] == 4 and len(s["eval_loss_history"]) == 2 and s["final"]["from"] == "best"
    assert len(s["base_model"]["sha256"]) == 64 and len(s["datasets"]["train"]["sha256"]) == 64
    assert s["config"]["effective"]["fp16"] is False and s["config"]["effective"]["optim"] == "adamw_torch"
    assert s["tokens_seen"] > 0 and s["tokens_per_second"] > 0 and s["expertkit_version"]
    assert not [p for p in run_dir.rglob("*") if p.suffix in (".pt", ".pth", ".bin", ".pkl")]


def test_json_logs_are_one_object_per_line(cli, make_expert, tiny_qwen3_dir, tmp_path):
    manifest = make_expert(tiny_qwen3_dir, config={"max_steps": 3, "save_steps": 2})
    res = cli("train", "-m", manifest, "--json-logs", "--output", tmp_path / "w", "--epochs", "0.5", "--seed", "7")
    assert res.exit_code == 0, res
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] in ("note", "start") and kinds[-1] == "end" and kinds.count("log") == 3 and "checkpoint" in kinds
    assert all("loss" in e and "learning_rate" in e and "tokens_per_second" in e for e in events if e["event"] == "log")
    summary = json.loads(open(events[-1]["summary"]).read())
    assert summary["config"]["training.config"]["seed"] == 7 and summary["config"]["training.config"]["epochs"] == 0.5


def _bad(kind, make_expert, model_dir, tmp_path):
    """(args, expected message) for one kind of bad input."""
    if kind == "missing dataset":
        m = make_expert(model_dir)
        return ["-m", m, "--dataset", tmp_path / "nope.jsonl"], "nope.jsonl: dataset file not found"
    if kind == "empty dataset":
        m = make_expert(model_dir, rows=[])
        return ["-m", m], "train.jsonl: dataset is empty"
    if kind == "no assistant turns":
        m = make_expert(model_dir, rows=[{"messages": [{"role": "user", "content": "hi"}]}] * 3)
        return ["-m", m], "no example has an assistant turn"
    if kind == "every example too long":
        m = make_expert(model_dir, config={"max_seq_length": 10})
        return ["-m", m], "every example is longer than training.config.max_seq_length=10"
    if kind == "unknown target module":
        m = make_expert(model_dir, config={"target_modules": ["q_proj", "qkv"]})
        return ["-m", m], "training.config.target_modules: 'qkv' not in the base model; its adaptable modules are: "
    if kind == "unsupported adapter":
        m = make_expert(model_dir, config={"adapter_type": "ia3", "rank": None, "alpha": None, "target_modules": ["embed_tokens"]})
        return ["-m", m], "adapter ia3 is not supported for embed_tokens"
    if kind == "resume path not a checkpoint":
        m = make_expert(model_dir)
        (tmp_path / "notackpt").mkdir()
        return ["-m", m, "--resume", tmp_path / "notackpt"], "not a training checkpoint"
    if kind == "resume without checkpoints":
        return ["-m", make_expert(model_dir), "--resume"], "--resume: no complete checkpoint in"
    if kind == "missing validation split":
        m = make_expert(model_dir, config={"evaluation_strategy": "steps", "eval_steps": 2}, validation=False)
        return ["-m", m], "validation split"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", [
    "missing dataset", "empty dataset", "no assistant turns", "every example too long", "unknown target module",
    "unsupported adapter", "resume path not a checkpoint", "resume without checkpoints", "missing validation split",
])
def test_bad_input_is_one_clear_error_exit_2(kind, cli, make_expert, tiny_llama_dir, tmp_path):
    args, message = _bad(kind, make_expert, tiny_llama_dir, tmp_path)
    res = cli("train", *args)
    assert res.exit_code == 2, res
    assert message in res.stderr, res.stderr
    assert "Traceback" not in res.output and res.stderr.count("error:") == 1


def test_unknown_target_error_lists_the_model_modules(cli, make_expert, tiny_llama_dir):
    res = cli("train", "-m", make_expert(tiny_llama_dir, config={"target_modules": ["attn"]}))
    assert res.exit_code == 2 and "q_proj" in res.stderr and "down_proj" in res.stderr


def test_rejected_examples_are_written_with_reasons(cli, make_expert, tiny_llama_dir, tmp_path):
    rows = [example(i) for i in range(8)] + [{"messages": [{"role": "user", "content": "no answer"}]}]
    manifest = make_expert(tiny_llama_dir, rows=rows, config={"max_steps": 1})
    write_jsonl(manifest.parent / "datasets/train.jsonl", rows)
    res = cli("train", "-m", manifest, "--output", tmp_path / "w")
    assert res.exit_code == 0, res
    rejected = [json.loads(x) for x in next((tmp_path / "w").iterdir()).joinpath("rejected_examples.jsonl").read_text().splitlines()]
    assert rejected == [{"file": str(manifest.parent / "datasets/train.jsonl"), "line": 9, "reason": "no assistant turn (nothing to train on)"}]


def test_resume_latest_and_a_given_checkpoint_through_the_cli(cli, make_expert, tiny_llama_dir, tmp_path):
    manifest = make_expert(tiny_llama_dir, config={"max_steps": 2, "save_steps": 2})
    out = tmp_path / "w"
    assert cli("train", "-m", manifest, "-o", out).exit_code == 0
    res = cli("train", "-m", manifest, "-o", out, "--resume", "--max-steps", "4")
    assert res.exit_code == 0, res
    run_dir = next(out.iterdir())
    assert "resuming" in res.stderr and (run_dir / "checkpoint-4").is_dir()
    res = cli("train", "-m", manifest, "-o", out, "--max-steps", "3", "--resume", run_dir / "checkpoint-2")
    assert res.exit_code == 0, res
    summary = json.loads((run_dir / "training_summary.json").read_text())
    assert summary["steps"] == 3 and summary["resumed_from"].endswith("checkpoint-2")
    res = cli("train", "-m", manifest, "-o", out, run_dir / "checkpoint-2")
    assert res.exit_code == 2 and "--resume" in res.stderr


def test_fractional_epochs_and_other_optimizer_settings(make_expert, tiny_qwen3_dir):
    from expertkit.training.run import train

    manifest = make_expert(tiny_qwen3_dir, config={
        "max_steps": None, "epochs": 0.5, "optim": "sgd", "gradient_checkpointing": True, "lr_scheduler": "linear",
        "warmup_steps": 1, "gradient_accumulation_steps": 2, "batch_size": 2, "save_strategy": "no", "method": "sft",
    })
    result = train(manifest)
    s = result.summary
    assert 0.3 <= s["epochs_completed"] <= 0.55 and s["steps"] >= 1
    assert s["config"]["effective"]["optim"] == "sgd" and s["config"]["effective"]["effective_batch_size"] == 4
    assert s["checkpoints"] == [] and (result.final_dir / "adapter_model.safetensors").is_file()
    lrs = [p["learning_rate"] for p in s["train_loss_history"]]
    assert lrs[0] < lrs[1] or len(lrs) < 2  # warmup then linear decay
