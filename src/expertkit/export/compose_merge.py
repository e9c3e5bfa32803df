"""Folding a chain of experts into one set of weights (`export merged a+b`).

The chain itself (which experts, which versions, in what order, with what weights) comes from
the one composition resolver, `runtime/compose.py`; this module only does the arithmetic, so
the merged model computes what the runtime's multi-adapter forward computes:

- LoRA: each link adds ``weight * scale * B @ A`` to the layers it targets. Additions commute,
  so folding the links one after another (PEFT ``merge_and_unload`` per link, with the link's
  LoRA scaling multiplied by its weight) is exact.
- IA3: scale vectors multiply; folding one after another is exact (weights other than 1 are
  refused by the resolver's checks, as in the runtime).
- DoRA normalises by the weight it is applied to, so a DoRA link is exact only alone; a chain
  with a DoRA expert and anything else is refused rather than approximated.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError


def check_foldable(kinds: Sequence[tuple[str, str, float]]) -> None:
    """``kinds``: (name, method, weight) per link. UsageError for chains that can't fold exactly."""
    dora = [name for name, method, _ in kinds if method == "dora"]
    if dora and len(kinds) > 1:
        raise UsageError(f"{dora[0]} is a DoRA expert: in a chain with {len(kinds) - 1} other(s) its merge is not exact",
                         hint="export it alone, or serve the chain with expertkit's runtime")
    for name, method, weight in kinds:
        if method == "ia3" and weight != 1.0:
            raise UsageError(f"{name} is an IA3 expert: a weight ({weight}) has no meaning for it", hint="drop the :weight")


def fold(model: Any, links: Sequence[tuple[Path, float]]) -> Any:
    """``model`` with every (adapter dir, weight) merged into its weights, in order."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    for i, (adapter_dir, weight) in enumerate(links):
        name = f"link{i}"
        peft_model = PeftModel.from_pretrained(model, str(adapter_dir), adapter_name=name, is_trainable=False)
        if weight != 1.0:
            for module in peft_model.modules():
                if isinstance(module, LoraLayer) and name in module.scaling:
                    module.scaling[name] *= weight  # what the runtime's set_scale does for this link
        model = peft_model.merge_and_unload()
    return model
