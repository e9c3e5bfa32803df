"""A cheaper LoRA dropout for CPU training: the same Bernoulli mask, drawn from fewer random bits.

PEFT applies ``nn.Dropout(lora_dropout)`` to the input of every LoRA layer (7 per block, so 210
calls a step on SmolLM2). On CPU, ``torch.bernoulli_`` draws one double per element and was 14%
of a LoRA step at dropout 0.05 (profiled, 4k-token packed row, 2 threads). Drawing one 16-bit
integer per element and comparing it with a threshold is ~1.5x faster (85 -> 57 ms for a
4067 x 1536 input, mask and scaling included) and gives the same
distribution up to rounding ``p`` to a multiple of 1/65536 (0.05 -> 0.0500030...). Scaling is the
usual inverted dropout (kept values times ``1 / (1 - p)``), so evaluation needs no change.
"""

from __future__ import annotations

from typing import Any

_LEVELS = 1 << 16


def _fast_dropout_class() -> type:
    import torch

    class FastDropout(torch.nn.Module):
        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            threshold = round(self.p * _LEVELS)  # drop when the 16-bit draw is below it
            if not self.training or threshold == 0:
                return x
            draws = torch.randint(0, _LEVELS, x.shape, dtype=torch.int32, device=x.device)
            return x * (draws >= threshold) * (1.0 / (1.0 - threshold / _LEVELS))

        def extra_repr(self) -> str:
            return f"p={self.p}"

    return FastDropout


def use_fast_dropout(model: Any) -> int:
    """Swap the ``nn.Dropout`` inside PEFT LoRA layers (``lora_dropout``) for ``FastDropout``; returns how many."""
    import torch

    cls = _fast_dropout_class()
    swapped = 0
    for module in model.modules():
        table = getattr(module, "lora_dropout", None)
        if not isinstance(table, torch.nn.ModuleDict):
            continue
        for name, layer in list(table.items()):
            if isinstance(layer, torch.nn.Dropout) and layer.p > 0:
                table[name] = cls(layer.p)
                swapped += 1
    return swapped
