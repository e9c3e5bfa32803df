"""Seeded shuffle and largest-remainder split sizes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from expertkit.data.split import shuffle_split, split_sizes


def test_guide_shares():
    assert split_sizes(1000, [0.8, 0.1, 0.1]) == [800, 100, 100]
    assert split_sizes(15, [0.8, 0.1, 0.1]) == [12, 2, 1]
    assert split_sizes(0, [0.8, 0.1, 0.1]) == [0, 0, 0]


def test_zero_share_gets_nothing():
    assert split_sizes(7, [0.9, 0.1, 0.0]) == [6, 1, 0]


@given(st.integers(0, 5000), st.lists(st.integers(0, 10), min_size=3, max_size=3).filter(lambda w: sum(w) > 0))
def test_sizes_always_add_up(total, weights):
    shares = [w / sum(weights) for w in weights]
    sizes = split_sizes(total, shares)
    assert sum(sizes) == total
    assert all(s == 0 for s, w in zip(sizes, weights, strict=True) if w == 0)
    assert all(abs(s - total * share) < 1 + 1e-9 for s, share in zip(sizes, shares, strict=True))


def test_shuffle_is_deterministic_and_complete():
    items = list(range(100))
    a = shuffle_split(items, [0.8, 0.1, 0.1], seed=7)
    assert a == shuffle_split(items, [0.8, 0.1, 0.1], seed=7)
    assert a != shuffle_split(items, [0.8, 0.1, 0.1], seed=8)
    assert sorted(x for part in a for x in part) == items
    assert [len(p) for p in a] == [80, 10, 10]
    assert a[0] != items[:80]  # really shuffled, unlike the guide's sample script
