"""World size 2 for real: `torchrun --nproc_per_node 2` (gloo on CPU) against one process with the same global batch.

Both ranks train (each on half of every global batch), only rank 0
publishes checkpoints, ``final/`` and the summary (a spy on ``os.replace`` in every rank), a
resumed 2-rank run continues where its checkpoint left off, and the adapter and the per-step
losses equal those of a single process that trains 2 x 4 rows per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from expertkit.training.run import TrainOptions, train

# dropout 0: a random mask is drawn per rank, so the two runs would differ by design
CONFIG = {"max_steps": 4, "save_steps": 2, "batch_size": 4, "dropout": 0.0, "learning_rate": 0.005,
          "lr_scheduler": "constant", "warmup_steps": 0, "packing": True}  # constant: the first launch stops at 2 of 4 steps

# Loaded by every Python process of the launch (its directory leads PYTHONPATH): each rank logs
# what it publishes with os.replace (atomic writes, checkpoint and final/ renames).
SPY = """\
import atexit, json, os
_rank, _log = os.environ.get("RANK"), os.environ.get("SPY_LOG")
if _rank is not None and _log:
    _replace, _seen = os.replace, []
    def _spy(src, dst, *a, **k):
        _seen.append(str(dst))
        return _replace(src, dst, *a, **k)
    os.replace = _spy
    def _dump():
        with open(f"{_log}.{_rank}", "w") as f:
            json.dump({"replaced": _seen}, f)
    atexit.register(_dump)
"""


def _torchrun(args: list[str], cwd: Path, spy_dir: Path, tag: str) -> list[dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(spy_dir), os.environ.get("PYTHONPATH", "")]), "SPY_LOG": str(cwd / tag)}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
           "-m", "expertkit.cli.main", "train", *args, "--json-logs"]
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-4000:])
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def _spied(cwd: Path, tag: str) -> dict[int, dict]:
    return {rank: json.loads((cwd / f"{tag}.{rank}").read_text()) for rank in (0, 1)}


def _adapter(final: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(final / "adapter_model.safetensors"))


def _losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["event"] == "log" and "loss" in e}


def test_two_ranks_train_write_once_resume_and_match_one_process(make_expert, tiny_llama_dir, tmp_path):
    (tmp_path / "spy").mkdir()
    (tmp_path / "spy" / "sitecustomize.py").write_text(SPY)
    manifest = make_expert(tiny_llama_dir, config=CONFIG, n=64, validation=False)
    train_args = ["--manifest", str(manifest), "--output", "ddp"]

    first = _torchrun([*train_args, "--max-steps", "2"], tmp_path, tmp_path / "spy", "first")
    (run_dir,) = (tmp_path / "ddp").iterdir()
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    assert [e["event"] for e in first].count("start") == 1  # events come from rank 0 only
    resumed = _torchrun([*train_args, "--resume"], tmp_path, tmp_path / "spy", "resumed")

    # one process, the same global batch (2 ranks x 4 rows), straight through the 4 steps
    single = make_expert(tiny_llama_dir, config={**CONFIG, "batch_size": 8}, n=64, validation=False, root=tmp_path / "one")
    one = train(single, TrainOptions(output=tmp_path / "one-out"))

    summary = json.loads((run_dir / "training_summary.json").read_text())
    effective = summary["config"]["effective"]
    assert (effective["world_size"], effective["distributed_type"], effective["effective_batch_size"]) == (2, "MULTI_CPU", 8)
    assert summary["steps"] == 4 and summary["resumed_from"].endswith("checkpoint-2")
    assert summary["speedups"]["head_loss"] is True  # the CPU head runs under DDP too (what kept ranks small)

    # only rank 0 publishes; rank 1 writes nothing but its own RNG state into the checkpoint being built
    for tag in ("first", "resumed"):
        spied = _spied(tmp_path, tag)
        assert any(p.endswith("training_summary.json") for p in spied[0]["replaced"])
        assert any(Path(p).name == "final" for p in spied[0]["replaced"])
        others = [p for p in spied[1]["replaced"] if "rng_state_1" not in Path(p).name]
        assert others == [], f"rank 1 published {others}"
        assert all(".tmp" in p for p in spied[1]["replaced"])
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert {p.name for p in (run_dir / "checkpoint-4").glob("rng_state_*.json")} == {"rng_state_0.json", "rng_state_1.json"}

    # each rank saw half of every global batch; the reduced gradients make the two runs one
    assert summary["tokens_seen"] == one.summary["tokens_seen"]
    ddp_losses = {**_losses(first), **_losses(resumed)}
    single_losses = {p["step"]: p["loss"] for p in one.summary["train_loss_history"]}
    assert sorted(ddp_losses) == sorted(single_losses) == [1, 2, 3, 4]
    for step, loss in single_losses.items():
        assert ddp_losses[step] == pytest.approx(loss, rel=1e-4, abs=1e-5), step
    ddp_w, one_w = _adapter(run_dir / "final"), _adapter(one.final_dir)
    assert ddp_w.keys() == one_w.keys() and ddp_w
    for name, tensor in one_w.items():
        assert (ddp_w[name] - tensor).abs().max().item() <= 1e-5 + 1e-4 * tensor.abs().max().item(), name
