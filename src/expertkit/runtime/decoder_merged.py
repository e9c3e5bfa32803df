"""The decoder's merged-weight cache: whole-layer copies with an expert (or a composition) folded
in, so a batch whose rows all use one chain decodes at the base model's cost.

An entry replaces every fused linear its chain touches (with LoRA on all of them, about one more
copy of the model's layer weights), so the cache is an LRU under two limits: ``max_entries`` and
``max_bytes`` (None = no byte limit). The expert pool sets ``max_bytes`` to what its budget leaves
after the experts' own tensors, and sheds entries before it evicts an expert: merged weights are
rebuilt on the next use (a few hundred ms on the default model), an evicted expert is not. A
chain whose entry can't fit at all decodes unmerged (per-row deltas on the base weights): slower,
same answers, never over budget.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

Chain = tuple[tuple[str, float], ...]
Layers = list[dict[str, Any]]


class MergedCache:
    def __init__(self, stack: Any, *, max_entries: int = 8, max_bytes: int | None = None) -> None:
        self.stack = stack  # a `decoder_layers.Stack`: the base layers an entry's tensors replace
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Chain, tuple[Layers, int]] = OrderedDict()  # least recently used first

    def get(self, chain: Chain) -> Layers | None:
        entry = self._entries.get(chain)
        if entry is None:
            return None
        self._entries.move_to_end(chain)
        return entry[0]

    def cost(self, keys: set[tuple[int, str]]) -> int:
        """Bytes an entry replacing these (layer, fused linear) weights holds."""
        return sum(_nbytes(self.stack.layers[layer][group]) for layer, group in keys)

    def fits(self, nbytes: int) -> bool:
        return self.max_entries > 0 and (self.max_bytes is None or nbytes <= self.max_bytes)

    def put(self, chain: Chain, layers: Layers, nbytes: int) -> None:
        self._entries.pop(chain, None)
        while self._entries and (len(self._entries) >= self.max_entries or not self._room(nbytes)):
            self._entries.popitem(last=False)
        self._entries[chain] = (layers, nbytes)

    def _room(self, nbytes: int) -> bool:
        return self.max_bytes is None or self.total() + nbytes <= self.max_bytes

    def set_budget(self, max_bytes: int | None) -> None:
        """A new byte limit; least recently used entries go until the cache fits it."""
        self.max_bytes = max_bytes
        while self._entries and not self._room(0):
            self._entries.popitem(last=False)

    def shed(self) -> bool:
        """Drop the least recently used entry; False when there is none."""
        if not self._entries:
            return False
        self._entries.popitem(last=False)
        return True

    def drop(self, name: str) -> None:
        """Forget every entry whose chain names ``name`` (it was detached)."""
        for chain in [c for c in self._entries if any(n == name for n, _ in c)]:
            del self._entries[chain]

    def total(self) -> int:
        return sum(n for _, n in self._entries.values())

    def bytes_of(self, chain: Chain) -> int:
        entry = self._entries.get(chain)
        return 0 if entry is None else entry[1]

    def __contains__(self, chain: Chain) -> bool:
        return chain in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def _nbytes(t: Any) -> int:
    return t.numel() * t.element_size()
