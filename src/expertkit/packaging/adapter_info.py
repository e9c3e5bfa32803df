"""Describe a saved PEFT adapter directory: what `adapters[0]` in the manifest records.

Reads `adapter_config.json` (type, rank, alpha, target modules), hashes
`adapter_model.safetensors`, and finds the training step from `trainer_state.json` or a
`checkpoint-N` directory name. Pickle weights are refused: loading them can run code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertkit.errors import PackageError
from expertkit.packaging.digests import sha256_file
from expertkit.packaging.reader import ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, PICKLE_SUFFIXES

_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class AdapterInfo:
    directory: Path
    type: str
    r: int | None
    alpha: float | None
    target_modules: list[str] | None
    size_bytes: int
    sha256: str
    checkpoint_step: int | None

    def manifest_entry(self, path: str) -> dict[str, Any]:
        """The adapters[0] fields `package` fills, in a fixed key order (unknown values left out)."""
        entry: dict[str, Any] = {"type": self.type, "path": path}
        if self.r is not None:
            entry["r"] = self.r
        if self.alpha is not None:
            entry["alpha"] = self.alpha
        if self.target_modules is not None:
            entry["target_modules"] = self.target_modules
        entry["size_bytes"] = self.size_bytes
        entry["sha256"] = self.sha256
        if self.checkpoint_step is not None:
            entry["checkpoint_step"] = self.checkpoint_step
        return entry


def refuse_pickle(weights: Path) -> None:
    if weights.is_file() and weights.suffix.lower() in PICKLE_SUFFIXES:
        raise PackageError(f"{weights}: pickle weights are refused (loading them can run code)",
                           hint="save the adapter with safetensors: model.save_pretrained(dir) (the PEFT default)")
    if weights.is_dir():
        pickled = sorted(p.name for p in weights.iterdir() if p.stem == "adapter_model" and p.suffix.lower() in PICKLE_SUFFIXES)
        if pickled:
            raise PackageError(f"{weights}: pickle adapter weights are refused ({', '.join(pickled)})",
                               hint="re-save with safetensors (model.save_pretrained(dir, safe_serialization=True)) and remove the pickle file")


def _checkpoint_step(directory: Path) -> int | None:
    state = directory / "trainer_state.json"
    if state.is_file():
        try:
            step = json.loads(state.read_text(encoding="utf-8")).get("global_step")
            if isinstance(step, int):
                return step
        except (OSError, ValueError):
            pass
    match = _CHECKPOINT_DIR.match(directory.name)
    return int(match.group(1)) if match else None


def _adapter_type(config: dict[str, Any]) -> str:
    peft_type = str(config.get("peft_type", "")).lower()
    if peft_type == "lora" and config.get("use_dora"):
        return "dora"
    return peft_type or "lora"


def read_adapter(directory: str | Path) -> AdapterInfo:
    """Describe the adapter in ``directory``; PackageError names what is missing."""
    directory = Path(directory)
    refuse_pickle(directory)
    if not directory.is_dir():
        raise PackageError(f"{directory}: adapter directory not found", hint="train first (`expert-cli train`) or pass --weights DIR")
    config_path, weights = directory / ADAPTER_CONFIG_NAME, directory / ADAPTER_WEIGHTS_NAME
    for needed in (config_path, weights):
        if not needed.is_file():
            raise PackageError(f"{directory}: no {needed.name}", hint="--weights must be a PEFT adapter directory (save_pretrained output)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackageError(f"{config_path}: not valid JSON: {exc}") from None
    targets = config.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    return AdapterInfo(
        directory=directory,
        type=_adapter_type(config),
        r=config.get("r") if _adapter_type(config) != "ia3" else None,
        alpha=config.get("lora_alpha") if _adapter_type(config) != "ia3" else None,
        target_modules=sorted(targets) if targets else None,  # PEFT saves a set: order is arbitrary
        size_bytes=weights.stat().st_size,
        sha256=sha256_file(weights),
        checkpoint_step=_checkpoint_step(directory),
    )
