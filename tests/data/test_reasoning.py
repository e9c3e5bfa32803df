"""The reasoning mix: a seeded share, never more than the examples that have reasoning text."""

from __future__ import annotations

from expertkit.data.reasoning import choose, default_ratio


def test_default_ratio_by_template():
    assert default_ratio("qwen3") == 0.75 and default_ratio("chatml") == 0.75
    assert default_ratio("llama2") == 0.0 and default_ratio("alpaca") == 0.0


def test_target_share_when_enough_reasoning():
    flags, mix = choose([True] * 1000, 0.75, seed=1)
    assert sum(flags) == 750 and mix.achieved_ratio == 0.75 and mix.direct == 250
    assert choose([True] * 1000, 0.75, seed=1)[0] == flags
    assert choose([True] * 1000, 0.75, seed=2)[0] != flags


def test_only_available_examples_are_chosen():
    available = [i % 5 == 0 for i in range(1000)]  # 200 have reasoning
    flags, mix = choose(available, 0.75, seed=1)
    assert all(a for a, f in zip(available, flags, strict=True) if f)
    assert mix.with_reasoning == 200 and mix.achieved_ratio == 0.2
    assert mix.direct_no_reasoning_available == 800 and mix.available == 200


def test_zero_ratio_and_empty():
    flags, mix = choose([True] * 10, 0.0, seed=1)
    assert not any(flags) and mix.direct == 10
    assert choose([], 0.75, seed=1)[1].achieved_ratio == 0.0
