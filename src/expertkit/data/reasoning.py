"""Qwen3 hybrid reasoning: which examples get a `<think>` block before the answer.

The guide asks for ~75% reasoning and ~25% direct examples with Qwen3-style templates. Reasoning
text is never invented: only examples whose reasoning is available (a `reasoning` field, the
expert's `reasoning` hook, or a think block already in the data) can be chosen. If fewer are
available than the target share, all of them get it and the shortfall is reported; the rest
stay direct. The choice is a seeded sample, so the same data and seed give the same mix.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

REASONING_TEMPLATES = ("qwen3", "chatml")
DEFAULT_RATIO = 0.75


def default_ratio(prompt_template: str | None) -> float:
    """0.75 for templates that speak Qwen3's think blocks, else 0."""
    return DEFAULT_RATIO if (prompt_template or "chatml") in REASONING_TEMPLATES else 0.0


@dataclass
class ReasoningMix:
    target_ratio: float
    achieved_ratio: float
    with_reasoning: int
    direct: int
    available: int  # examples that had reasoning text to use
    direct_no_reasoning_available: int  # direct because no reasoning text existed

    def to_dict(self) -> dict:
        return asdict(self)


def choose(available: list[bool], ratio: float, seed: int) -> tuple[list[bool], ReasoningMix]:
    """Flags for which examples carry their reasoning, and the resulting mix."""
    total = len(available)
    candidates = [i for i, ok in enumerate(available) if ok]
    target = round(ratio * total)
    if len(candidates) <= target:
        chosen = candidates
    else:
        # a string seed keeps this draw independent of the shuffle that uses the int seed
        chosen = random.Random(f"reasoning:{seed}").sample(candidates, target)
    flags = [False] * total
    for i in chosen:
        flags[i] = True
    picked = len(chosen)
    mix = ReasoningMix(
        target_ratio=ratio,
        achieved_ratio=round(picked / total, 4) if total else 0.0,
        with_reasoning=picked,
        direct=total - picked,
        available=len(candidates),
        direct_no_reasoning_available=total - len(candidates),
    )
    return flags, mix
