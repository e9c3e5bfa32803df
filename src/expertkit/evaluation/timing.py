"""Per-token generation latency, measured the same way by `expert-cli test` and the benches.

The engine's `step_hook` (either backend) timestamps every decoding step; the per-token latency of
a run is the median interval between steps after the prefill (so it includes the forward pass,
the logits processors such as the grammar mask, and sampling, but not prompt processing).
Runs of the variants being compared are interleaved, so background load on a shared machine
hits all of them alike, and their medians are compared. Everything goes through the engine's
public `generate` (a variant names its experts, ``[]`` = the base model).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class LatencySample:
    label: str
    per_token_ms: list[float]  # one median-of-steps figure per run
    tokens: list[int]

    @property
    def median(self) -> float:
        return statistics.median(self.per_token_ms)


def _one_run(engine: Any, prompt: str, tokens: int, experts: Any, grammar: bool) -> tuple[float, int]:
    overrides: dict[str, Any] = {"max_new_tokens": tokens, "temperature": 0.0, "use_grammar": grammar, "stop_sequences": []}
    if grammar:
        overrides["enable_thinking"] = False  # constrain from the first token: what we time
    stamps: list[float] = []
    with engine.step_hook(lambda: stamps.append(time.perf_counter())):
        # a grammar decides the length itself; without one, force the full length
        gen = engine.generate([prompt], experts=experts, batch_size=1, min_new_tokens=None if grammar else tokens, **overrides)[0]
    steps = [(b - a) * 1000 for a, b in zip(stamps[1:], stamps[2:], strict=False)]  # stamps[0] -> [1] is the prefill
    return (statistics.median(steps) if steps else gen.latency_ms / max(1, gen.tokens)), gen.tokens


def compare_latency(engine: Any, prompt: str, variants: dict[str, dict[str, Any]], *, tokens: int = 16,
                    repeats: int = 3, warmup: int = 1) -> dict[str, LatencySample]:
    """Per-token latency of each variant, e.g. {"base": {"experts": []}, "expert": {}, "grammar": {"grammar": True}}
    (``experts`` absent = the engine's own expert)."""
    samples = {name: LatencySample(name, [], []) for name in variants}
    for run in range(warmup + repeats):
        for name, flags in variants.items():
            ms, n = _one_run(engine, prompt, tokens, flags.get("experts"), bool(flags.get("grammar", False)))
            if run >= warmup:
                samples[name].per_token_ms.append(ms)
                samples[name].tokens.append(n)
    return samples
