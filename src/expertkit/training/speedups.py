"""The training speedups that patch into transformers and PEFT, switched and recorded in one place.

Each one replaces a piece of the libraries' training path with a faster exact equivalent (see the
module named below for what and why). They lean on private names of those libraries, so each
can be turned off without a code change, and ``training_summary.json`` records what a run used:

    EXPERT_DISABLE_SPEEDUPS=fused_lora,fast_dropout expert-cli train     # or =all

``tests/training/test_private_api_canary.py`` fails loudly when an upgrade moves a hook we use.
"""

from __future__ import annotations

import os
from typing import Any

from expertkit.errors import UsageError

ENV = "EXPERT_DISABLE_SPEEDUPS"
SPEEDUPS = {
    "packed_attention": "per-example causal SDPA for packed rows (attention.py)",
    "head_loss": "CPU float32 LM head, loss and gradient a block of rows at a time (head_loss.py)",
    "fast_dropout": "LoRA dropout from fewer random bits, CPU (dropout.py)",
    "fused_lora": "LoRA update as one addmm through PEFT's LoraVariant, CPU (fused_lora.py)",
    "keep_freed_memory": "glibc malloc keeps freed blocks, CPU (memory.py)",
}


def disabled_speedups() -> frozenset[str]:
    """The speedups named in EXPERT_DISABLE_SPEEDUPS (``all`` for every one); an unknown name is an error."""
    names = {n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()}
    if "all" in names:
        return frozenset(SPEEDUPS)
    unknown = sorted(names - set(SPEEDUPS))
    if unknown:
        raise UsageError(f"{ENV}: unknown speedup(s) {', '.join(unknown)} (known: {', '.join(SPEEDUPS)}, or all)")
    return frozenset(names)


def speedup_enabled(name: str) -> bool:
    return name not in disabled_speedups()


def apply_speedups(trainer: Any) -> dict[str, Any]:
    """Apply every enabled speedup that fits ``trainer``'s model and device; returns what was applied.

    The result (kept on ``trainer.expert_speedups`` and written to training_summary.json) maps
    each speedup to what it did: layers patched, True/False, or "disabled".
    """
    off = disabled_speedups()
    applied: dict[str, Any] = {name: "disabled" for name in SPEEDUPS if name in off}
    if "packed_attention" not in off:
        from expertkit.training.attention import use_packed_attention

        # per-example causal attention instead of a T x T block mask
        applied["packed_attention"] = bool(trainer.args.padding_free) and use_packed_attention(trainer.model)
    if "head_loss" not in off:
        from expertkit.training.answer_loss import fused_head

        applied["head_loss"] = fused_head(trainer.model) is not None  # decided again per batch, same rule
    on_cpu = trainer.model.device.type == "cpu"
    if "fast_dropout" not in off:
        from expertkit.training.dropout import use_fast_dropout

        applied["fast_dropout"] = use_fast_dropout(trainer.model) if on_cpu else 0
    if "fused_lora" not in off:
        from expertkit.training.fused_lora import use_fused_lora

        applied["fused_lora"] = use_fused_lora(trainer.model) if on_cpu else 0
    if "keep_freed_memory" not in off:
        from expertkit.training.memory import keep_freed_memory

        applied["keep_freed_memory"] = on_cpu and keep_freed_memory()
    trainer.expert_speedups = {name: applied[name] for name in SPEEDUPS}
    return trainer.expert_speedups
