"""training_summary.json and loss.png: what a run did, in one file a person or a tool can read.

The summary records the resolved configuration (manifest values after CLI overrides and
hardware fallbacks), the expertkit version, the base model's name and weights digest, sha256 of
every dataset file, steps, tokens, loss histories, wall time, throughput, and which training
speedups the run used (``speedups``, see speedups.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from expertkit.atomic import write_bytes, write_json


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def loss_histories(log_history: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(train, eval) points from a Trainer log history, in step order."""
    train, evals = [], []
    for entry in log_history:
        if "loss" in entry:
            train.append({k: entry[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm") if k in entry})
        elif "eval_loss" in entry:
            evals.append({k: v for k, v in entry.items() if k == "step" or k == "epoch" or k.startswith("eval_")})
    return train, evals


def build_summary(**parts: Any) -> dict[str, Any]:
    """The summary dict: ``parts`` are the sections run.py gathered; a few are derived here."""
    from expertkit import __version__

    state = parts.pop("state")
    train, evals = loss_histories(state.log_history)
    wall = parts.pop("wall_time_s")
    session_tokens = parts.pop("session_tokens")
    return {
        "expertkit_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **parts,
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "epochs_completed": state.epoch,
        "tokens_seen": state.num_input_tokens_seen,
        "best_metric": state.best_metric,
        "best_checkpoint": state.best_model_checkpoint,
        "train_loss_history": train,
        "eval_loss_history": evals,
        "wall_time_s": round(wall, 3),
        "tokens_per_second": round(session_tokens / wall, 1) if wall > 0 else None,
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    write_json(path, summary)


def plot_loss(path: Path, summary: dict[str, Any], title: str) -> None:
    """loss.png: train loss by step, eval loss markers on top (rendered by matplotlib's Agg canvas)."""
    import io

    from matplotlib.figure import Figure  # no pyplot: no global backend state, no display needed

    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.subplots()
    train = summary["train_loss_history"]
    evals = [e for e in summary["eval_loss_history"] if "eval_loss" in e]
    if train:
        ax.plot([p["step"] for p in train], [p["loss"] for p in train], label="train loss", color="tab:blue")
    if evals:
        ax.plot([p["step"] for p in evals], [p["eval_loss"] for p in evals], "o-", label="eval loss", color="tab:orange")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if train or evals:
        ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes(path, buf.getvalue())
