"""Kill safety and resume: a run killed midway and resumed matches an uninterrupted run."""

from __future__ import annotations

import json

import pytest

from expertkit.errors import UsageError
from expertkit.training import checkpoints as ckpt
from expertkit.training.run import TrainOptions, train

# dropout on, warmup + cosine: resume must restore RNG, optimizer and LR schedule to match
CONFIG = {"max_steps": 6, "save_steps": 3, "dropout": 0.1, "warmup_steps": 2, "lr_scheduler": "cosine", "batch_size": 2}


class Killed(Exception):
    pass


def _kill_after_checkpoint(step):
    def sink(event):
        if event["event"] == "checkpoint" and event["step"] == step:
            raise Killed
    return sink


def _history(summary):
    return [(p["step"], p["loss"], p["learning_rate"]) for p in summary["train_loss_history"]]


def test_killed_and_resumed_run_equals_uninterrupted_run(make_expert, tiny_llama_dir, tmp_path):
    manifest = make_expert(tiny_llama_dir, config=CONFIG)
    full = train(manifest, TrainOptions(output=tmp_path / "full"))

    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(manifest, TrainOptions(output=out), on_event=_kill_after_checkpoint(3))
    run_dir = out / full.run_dir.name
    assert [s for s, _ in ckpt.checkpoints(run_dir)] == [3]
    assert not (run_dir / "final").exists()

    resumed = train(manifest, TrainOptions(output=out, resume=True))
    assert resumed.summary["resumed_from"].endswith("checkpoint-3")
    assert resumed.summary["steps"] == full.summary["steps"] == 6
    a, b = _history(full.summary), _history(resumed.summary)
    assert [x[0] for x in a] == [x[0] for x in b] == [1, 2, 3, 4, 5, 6]
    for (_, la, lra), (_, lb, lrb) in zip(a, b, strict=True):
        assert la == pytest.approx(lb, rel=1e-4, abs=1e-5)
        assert lra == pytest.approx(lrb, rel=1e-6)
    assert resumed.summary["tokens_seen"] == full.summary["tokens_seen"]
    assert ckpt.pickle_files(out) == [] and ckpt.pickle_files(tmp_path / "full") == []


def test_kill_while_writing_a_checkpoint_leaves_nothing_to_resume(make_expert, tiny_llama_dir, tmp_path, monkeypatch):
    manifest = make_expert(tiny_llama_dir, config=CONFIG)

    def crash(tmp, final, step):
        raise Killed  # the process dies after writing files into the temp dir, before the rename

    monkeypatch.setattr(ckpt, "publish", crash)
    with pytest.raises(Killed):
        train(manifest, TrainOptions(output=tmp_path / "o"))
    run_dir = next((tmp_path / "o").iterdir())
    assert (run_dir / ".tmp-checkpoint-3" / "adapter_model.safetensors").is_file()
    assert ckpt.find_latest(run_dir) is None
    monkeypatch.undo()
    with pytest.raises(UsageError, match="no complete checkpoint") as info:
        train(manifest, TrainOptions(output=tmp_path / "o", resume=True))
    assert info.value.param == "resume"
    train(manifest, TrainOptions(output=tmp_path / "o", max_steps=3))  # a fresh start cleans the leftovers
    assert not (run_dir / ".tmp-checkpoint-3").exists() and (run_dir / "checkpoint-3").is_dir()


def test_checkpoint_is_pickle_free_and_rotated(make_expert, tiny_qwen3_dir, tmp_path):
    manifest = make_expert(tiny_qwen3_dir, config={"max_steps": 6, "save_steps": 2, "save_total_limit": 2})
    result = train(manifest)
    assert [s for s, _ in ckpt.checkpoints(result.run_dir)] == [4, 6]
    names = {p.name for p in (result.run_dir / "checkpoint-6").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "trainer_state.json", "optimizer.safetensors",
            "optimizer.json", "scheduler.json", "rng_state_0.safetensors", "rng_state_0.json", ckpt.MARKER} <= names
    assert ckpt.pickle_files(result.run_dir) == []
    marker = json.loads((result.run_dir / "checkpoint-6" / ckpt.MARKER).read_text())
    assert marker["step"] == 6 and "adapter_model.safetensors" in marker["files"]


def test_fresh_run_over_old_checkpoints_is_refused(make_expert, tiny_llama_dir):
    manifest = make_expert(tiny_llama_dir, config={"max_steps": 3, "save_steps": 3})
    train(manifest)
    with pytest.raises(UsageError, match="already holds checkpoints"):
        train(manifest)
