"""Vanilla LoRA's update as one ``addmm``: the scaling and the residual add ride on the small matmul.

PEFT computes ``result + lora_B(lora_A(dropout(x))) * scaling``: after the rank-r matmul it makes
an output-sized tensor, multiplies it by ``scaling`` and adds it to ``result``, and backward
multiplies the output-sized gradient by ``scaling`` again. On CPU those are memory-bound passes
over ``tokens x out_features`` floats, ~5% of a SmolLM2 LoRA step (profiled: 4k-token packed row,
2 threads; the mul and add on the 1536-wide up_proj output alone cost ~20 ms a layer).
``torch.addmm(result, h, B.T, alpha=scaling)`` gives the same sum in one BLAS call (it
accumulates into a copy of ``result``), and its backward applies ``alpha`` to the rank-r
gradient instead of the wide one.

It is plugged in through PEFT's own extension point, ``LoraVariant`` (the hook DoRA uses), on
plain LoRA ``Linear`` layers only: merge and unmerge keep PEFT's vanilla formulas, and nothing
saved changes, so ``final/`` still loads with plain PEFT.

PEFT's docstring calls ``LoraVariant``'s methods private ("prone to change and should thus
considered to be 'private'"), and ``lora_variant``, ``lora_dropout``, ``lora_bias`` and
``scaling`` are layer internals: the canary test (tests/training/test_private_api_canary.py)
checks each one, and EXPERT_DISABLE_SPEEDUPS=fused_lora turns this off. This module imports torch
and PEFT: import it lazily (speedups.py does).
"""

from __future__ import annotations

from typing import Any

import torch
from peft.tuners.lora.layer import Linear, LoraVariant


class AddmmLora(LoraVariant):
    """PEFT's LoRA forward with the scaling and the residual add inside one addmm; PEFT's merge formulas."""

    @staticmethod
    def init(module: Any, adapter_name: str, **kwargs: Any) -> None:
        return None

    @staticmethod
    def merge_safe(module: Any, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        return orig_weight + module.get_delta_weight(active_adapter).to(orig_weight.dtype)

    @staticmethod
    def merge_unsafe(module: Any, active_adapter: str, orig_weight: torch.Tensor) -> None:
        orig_weight.data += module.get_delta_weight(active_adapter).to(orig_weight.dtype)

    @staticmethod
    def unmerge(module: Any, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        return orig_weight - module.get_delta_weight(active_adapter).to(orig_weight.dtype)

    @staticmethod
    def forward(module: Any, active_adapter: str, x: torch.Tensor, result: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        hidden = module.lora_A[active_adapter](module.lora_dropout[active_adapter](x))
        weight = module.lora_B[active_adapter].weight
        flat = torch.addmm(result.reshape(-1, result.shape[-1]), hidden.reshape(-1, hidden.shape[-1]),
                           weight.t().to(hidden.dtype), alpha=module.scaling[active_adapter])
        return flat.view(result.shape)


def use_fused_lora(model: Any) -> int:
    """Give every plain-LoRA ``Linear`` adapter of a PEFT model the fused update; returns how many."""
    fused = 0
    for module in model.modules():
        if type(module) is not Linear:  # exactly PEFT's Linear: quantized and conv layers have their own forward
            continue
        for name in module.lora_A:
            if name in module.lora_variant or module.lora_bias.get(name) or module.lora_B[name].bias is not None:
                continue  # DoRA and other variants keep theirs; a LoRA bias needs the vanilla path
            module.lora_variant[name] = AddmmLora()
            fused += 1
    return fused
