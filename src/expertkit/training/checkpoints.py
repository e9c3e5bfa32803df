"""Pickle-free, kill-safe training checkpoints and finding one to resume from.

transformers' Trainer stores optimizer.pt, scheduler.pt, rng_state.pth and training_args.bin
with pickle; a checkpoint here holds only safetensors and JSON instead:

```
checkpoint-N/
  adapter_config.json, adapter_model.safetensors   PEFT adapter (loads with PeftModel.from_pretrained)
  tokenizer files                                   as saved by the trainer
  trainer_state.json                                transformers TrainerState (log history, best metric)
  training_args.json                                the TrainingArguments, as JSON
  optimizer.safetensors + optimizer.json            optimizer state_dict: tensors + the rest
  scheduler.json (+ scheduler.safetensors)          LR scheduler state_dict
  rng_state_<rank>.safetensors + rng_state_<rank>.json   torch (+cuda) / python / numpy RNG states
  expertkit_checkpoint.json                         written last: step, format, file list
```

A nested state (dicts with int keys, tuples, tensors, numpy arrays) is stored as one JSON tree
whose tensor leaves are ``{"__tensor__": key}`` pointers into a safetensors file. A checkpoint is
written into ``.tmp-checkpoint-N`` and renamed to ``checkpoint-N`` only when complete, so a kill
at any moment leaves nothing that ``find_latest`` would pick up; deletion renames first, too.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

from expertkit.atomic import write_json
from expertkit.errors import UsageError

MARKER = "expertkit_checkpoint.json"
FORMAT = 1
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle")


# --- tensor trees ----------------------------------------------------------------------------


def _encode(obj: Any, tensors: dict[str, Any], path: str) -> Any:
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        key = path or "root"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, tensors, f"{path}.k{i}"), _encode(v, tensors, f"{path}.{i}")] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {path or 'root'} without pickle")


def _decode(obj: Any, tensors: dict[str, Any]) -> Any:
    import numpy as np

    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return np.array(obj["__ndarray__"], dtype=obj["dtype"])
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__dict__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save_tree(directory: Path, stem: str, obj: Any) -> None:
    """Write ``obj`` as ``stem.json`` (+ ``stem.safetensors`` when it holds tensors)."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    tree = _encode(obj, tensors, "")
    if tensors:
        save_file(tensors, str(directory / f"{stem}.safetensors"))
    write_json(directory / f"{stem}.json", {"format": FORMAT, "tree": tree})


def load_tree(directory: Path, stem: str) -> Any:
    from safetensors.torch import load_file

    data = json.loads((directory / f"{stem}.json").read_text(encoding="utf-8"))
    tensor_file = directory / f"{stem}.safetensors"
    tensors = load_file(str(tensor_file)) if tensor_file.is_file() else {}
    return _decode(data["tree"], tensors)


# --- RNG state -------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.random.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.random.set_rng_state_all(state["cuda"])


# --- directories -----------------------------------------------------------------------------


def tmp_dir_for(final: Path) -> Path:
    return final.parent / f".tmp-{final.name}"


def fsync_tree(directory: Path) -> None:
    """Flush every file in ``directory`` (and the directory) to disk before it is renamed."""
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path, step: int) -> None:
    """Mark ``tmp`` complete, flush it, and rename it to ``final`` (replacing an older one)."""
    files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    write_json(tmp / MARKER, {"format": FORMAT, "step": step, "files": files})
    fsync_tree(tmp)
    if final.exists():
        remove_dir(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def remove_dir(path: Path) -> None:
    """Rename away first, so a kill mid-delete never leaves a half checkpoint under its real name."""
    doomed = path.parent / f".deleting-{path.name}"
    if doomed.exists():
        shutil.rmtree(doomed)
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file() and (path / "trainer_state.json").is_file()


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``run_dir``, oldest step first."""
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        m = CHECKPOINT_RE.match(child.name)
        if m and child.is_dir() and is_complete(child):
            found.append((int(m.group(1)), child))
    return sorted(found)


def find_latest(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1][1] if found else None


def check_resume_path(path: Path) -> Path:
    """A user-given ``--resume PATH`` must be a complete checkpoint directory (exit 2 otherwise)."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such checkpoint directory", param="resume", hint="use --resume alone for the latest checkpoint")
    if not is_complete(path):
        raise UsageError(
            f"{path}: not a training checkpoint (no {MARKER} / trainer_state.json)", param="resume",
            hint="pick a weights/<model>/checkpoint-N directory written by `expert-cli train`",
        )
    return path


def rotate(run_dir: Path, limit: int | None, keep: set[Path]) -> list[Path]:
    """Delete the oldest checkpoints beyond ``limit``, never the newest or those in ``keep``."""
    if not limit or limit <= 0:
        return []
    found = [p for _, p in checkpoints(run_dir)]
    protected = {p.resolve() for p in keep} | ({found[-1].resolve()} if found else set())
    removed = []
    excess = len(found) - max(limit, len(protected & {p.resolve() for p in found}))
    for path in found:
        if excess <= 0:
            break
        if path.resolve() in protected:
            continue
        remove_dir(path)
        removed.append(path)
        excess -= 1
    return removed


def clean_stale(run_dir: Path) -> None:
    """Remove leftovers of killed runs (temp and half-deleted checkpoint dirs)."""
    if not run_dir.is_dir():
        return
    for child in run_dir.iterdir():
        if child.is_dir() and (child.name.startswith(".tmp-checkpoint-") or child.name.startswith(".deleting-")):
            shutil.rmtree(child, ignore_errors=True)


def pickle_files(root: Path) -> list[Path]:
    """Files under ``root`` in a pickle-based format (the output must have none)."""
    return [p for p in root.rglob("*") if p.is_file() and p.suffix in PICKLE_SUFFIXES]
