"""Load a resolved base model with its tokenizer and chat template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from expertkit.manifest.model import BaseModelSpec
from expertkit.models.resolve import ResolvedModel, resolve_model


@dataclass
class LoadedBase:
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    resolved: ResolvedModel


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_base(spec: BaseModelSpec | str, *, device: str = "auto", dtype: Any = None) -> LoadedBase:
    """Resolve and load a base model (fp32 on CPU unless ``dtype`` says otherwise)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = spec if isinstance(spec, str) else spec.name
    resolved = resolve_model(name)
    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
    model = AutoModelForCausalLM.from_pretrained(str(resolved.path), dtype=dtype or torch.float32)
    model.to(pick_device(device))
    model.eval()
    return LoadedBase(model, tokenizer, resolved)
