"""A problem found in a manifest: where (JSON path), what, and how bad."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal


@dataclass(frozen=True)
class Problem:
    path: str  # JSON path, e.g. "training.config.rank" or "base_models[0].name"
    message: str  # what was found and what is expected
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def json_path(loc: tuple) -> str:
    """('base_models', 0, 'name') -> 'base_models[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def show_value(value: object) -> str:
    """A JSON value for a one-line message: readable Unicode, but control and line-break characters escaped."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return shorten("".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text))


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to about ``limit`` characters at a word or punctuation boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    boundary = max(cut.rfind(c) for c in ' ,:;')
    if boundary >= limit // 2:
        cut = cut[:boundary]
    return cut.rstrip(" ,:;") + "…"
