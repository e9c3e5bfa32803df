"""What training left next to an adapter: step count, training_summary.json, loss.png.

`expert-cli train` writes `weights/<slug>/{checkpoint-N,final}/` plus `training_summary.json`
and `loss.png` in `weights/<slug>/`; each checkpoint holds a transformers `trainer_state.json`.
We look in the adapter directory, then its parent and grandparent, and take what is there;
nothing here is required (an adapter from elsewhere just has no steps or curve).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)$")


@dataclass
class TrainingInfo:
    steps: int | None = None
    summary_path: Path | None = None
    loss_png: Path | None = None
    train_loss: list[dict[str, Any]] = field(default_factory=list)  # [{"step", "loss"}, ...]
    eval_loss: list[dict[str, Any]] = field(default_factory=list)  # [{"step", "eval_loss"}, ...]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _near(directory: Path) -> list[Path]:
    return [directory, directory.parent, directory.parent.parent]


def training_info(adapter_dir: Path, origin: Path | None = None, package_step: int | None = None) -> TrainingInfo:
    """Steps and loss history for the adapter at ``adapter_dir`` (``origin``: what the user named)."""
    origin = origin or adapter_dir
    info = TrainingInfo()
    local = origin if origin.is_dir() else adapter_dir
    state = _read_json(local / "trainer_state.json") if local.is_dir() else None
    match = _CHECKPOINT_RE.search(origin.name)
    if state and isinstance(state.get("global_step"), int):
        info.steps = state["global_step"]
    elif match:
        info.steps = int(match.group(1))
    elif package_step is not None:
        info.steps = package_step
    for directory in _near(origin.resolve() if origin.exists() else origin):
        summary = directory / "training_summary.json"
        if info.summary_path is None and summary.is_file():
            data = _read_json(summary) or {}
            info.summary_path = summary
            info.train_loss = [p for p in data.get("train_loss_history") or [] if isinstance(p, dict) and "loss" in p]
            info.eval_loss = [p for p in data.get("eval_loss_history") or [] if isinstance(p, dict) and "eval_loss" in p]
            if info.steps is None and isinstance(data.get("steps"), int):
                info.steps = data["steps"]
        if info.loss_png is None and (directory / "loss.png").is_file():
            info.loss_png = directory / "loss.png"
    if not info.train_loss and state:
        info.train_loss = [p for p in state.get("log_history") or [] if isinstance(p, dict) and "loss" in p]
    return info
