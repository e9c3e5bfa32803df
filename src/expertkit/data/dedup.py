"""Duplicate detection: the first occurrence is kept, later ones are reported with what they repeat.

The key is `training.dataset.dedup_key` (raw field names) when set; otherwise instruction +
input + output for instruction-style records, and the whole conversation (every turn, the
answer without its think block) for `messages`/`text` records.
"""

from __future__ import annotations

import json
from typing import Any


def explicit_key(data: dict[str, Any], fields: tuple[str, ...]) -> tuple:
    """The values of ``fields`` (JSON values made hashable; absent fields count as null)."""
    out = []
    for field in fields:
        value = data.get(field)
        if isinstance(value, dict | list):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        out.append(value)
    return tuple(out)


class Deduplicator:
    """Remembers keys seen so far and where each first appeared."""

    def __init__(self, fields: list[str] | None = None) -> None:
        self.fields = tuple(fields) if fields else None
        self._first: dict[tuple, str] = {}

    def key(self, data: dict[str, Any], default_key: tuple) -> tuple:
        return explicit_key(data, self.fields) if self.fields else default_key

    def seen(self, key: tuple, where: str) -> str | None:
        """Where ``key`` first appeared, or None (and remember ``where`` as its first place)."""
        first = self._first.get(key)
        if first is None:
            self._first[key] = where
        return first
