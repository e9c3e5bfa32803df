"""Shuffle with a fixed seed and cut into train/validation/test.

The guide's sample script splits in file order; here the order is shuffled first with
`random.Random(seed)`, so the same data and seed always give the same splits. Sizes use the
largest-remainder method: they add up to the total, and a share of 0 always gets 0 examples.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
SPLITS = ("train", "validation", "test")


def split_sizes(total: int, shares: Sequence[float]) -> list[int]:
    """Integer sizes proportional to ``shares`` that sum to ``total``."""
    weight = sum(shares)
    if total <= 0 or weight <= 0:
        return [0] * len(shares)
    exact = [total * s / weight for s in shares]
    sizes = [math.floor(x) for x in exact]
    # hand the leftover to the largest fractional parts; ties go to the earlier split
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[: total - sum(sizes)]:
        sizes[i] += 1
    return sizes


def shuffle_split(items: list[T], shares: Sequence[float], seed: int) -> list[list[T]]:
    """Shuffle a copy of ``items`` with ``seed`` and cut it into ``len(shares)`` parts."""
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    parts, start = [], 0
    for size in split_sizes(len(shuffled), shares):
        parts.append(shuffled[start:start + size])
        start += size
    return parts
