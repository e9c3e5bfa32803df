"""`dataset stats`: what is in a dataset file (prepared or raw).

Counts, length percentiles (tokens when a token counter is given, else characters), the share
of examples whose answer opens with a think block, exact duplicates, how many records have each
field, turns per conversation, and a warning below the guide's 1,000-example minimum.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import parse_chat, split_reasoning
from expertkit.data.raw_loaders import load_file
from expertkit.errors import DatasetError

MIN_EXAMPLES = 1000  # the guide's minimum
TokenCounter = Callable[[list[str]], list[int]]


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (q in 0-100)."""
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without floats drifting
    return sorted_values[int(rank) - 1]


def length_summary(lengths: list[int]) -> dict[str, Any]:
    values = sorted(lengths)
    if not values:
        return {"count": 0}
    return {
        "count": len(values), "min": values[0], "mean": round(sum(values) / len(values), 1),
        "p50": percentile(values, 50), "p90": percentile(values, 90), "p95": percentile(values, 95),
        "p99": percentile(values, 99), "max": values[-1],
    }


@dataclass
class DatasetStats:
    path: str
    examples: int = 0
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    length_unit: str = "chars"  # "tokens" with a tokenizer
    length_of: str = "text"  # "text" or "record" (raw files without a text field)
    lengths: dict[str, Any] = field(default_factory=dict)
    conversations: int = 0  # records whose text parsed as a chat
    with_think: int = 0
    think_ratio: float | None = None
    system_turns: int = 0
    multi_turn: int = 0
    turns: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0  # exact repeats beyond the first occurrence
    field_coverage: dict[str, float] = field(default_factory=dict)  # field -> share of records that have it
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["malformed_lines"] = out["malformed_lines"][:50]
        return out


def _record_text(data: dict[str, Any]) -> tuple[str, str]:
    text = data.get("text")
    if isinstance(text, str):
        return text, "text"
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str), "record"


def dataset_stats(path: str | Path, *, count_tokens: TokenCounter | None = None) -> DatasetStats:
    """Statistics of a .jsonl/.json/.csv/.parquet dataset file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    stats = DatasetStats(str(path))
    texts: list[str] = []
    units: Counter[str] = Counter()
    fields: Counter[str] = Counter()
    seen: set[str] = set()
    turn_counts: list[int] = []
    for record in load_file(path, str(path)):
        if record.data is None:
            stats.malformed += 1
            stats.malformed_lines.append(record.line)
            continue
        stats.examples += 1
        fields.update(k for k, v in record.data.items() if v is not None)
        text, unit = _record_text(record.data)
        units[unit] += 1
        texts.append(text)
        if text in seen:
            stats.duplicates += 1
        seen.add(text)
        if unit == "text":
            _count_turns(text, stats, turn_counts)
    stats.length_of = "text" if units["text"] >= units["record"] else "record"
    if count_tokens is not None and texts:
        stats.length_unit = "tokens"
        stats.lengths = length_summary(count_tokens(texts))
    else:
        stats.lengths = length_summary([len(t) for t in texts])
    stats.turns = length_summary(turn_counts)
    if stats.conversations:
        stats.think_ratio = round(stats.with_think / stats.conversations, 4)
    if stats.examples:
        stats.field_coverage = {k: round(n / stats.examples, 4) for k, n in sorted(fields.items(), key=lambda kv: (-kv[1], kv[0]))}
    stats.warnings = _warnings(stats)
    return stats


def _count_turns(text: str, stats: DatasetStats, turn_counts: list[int]) -> None:
    try:
        messages = parse_chat(text)
    except ValueError:
        return
    if not messages:
        return
    stats.conversations += 1
    turn_counts.append(len(messages))
    stats.system_turns += messages[0]["role"] == "system"
    stats.multi_turn += sum(m["role"] == "user" for m in messages) > 1
    last = messages[-1]
    if last["role"] == "assistant" and split_reasoning(last["content"])[0] is not None:
        stats.with_think += 1


def _warnings(stats: DatasetStats) -> list[str]:
    out = []
    if stats.examples < MIN_EXAMPLES:
        out.append(f"only {stats.examples} examples; the guide asks for at least {MIN_EXAMPLES:,} (5,000+ recommended)")
    if stats.malformed:
        out.append(f"{stats.malformed} malformed line(s), first at line {stats.malformed_lines[0]}")
    if stats.duplicates:
        out.append(f"{stats.duplicates} exact duplicate(s)")
    if stats.examples and stats.conversations < stats.examples and stats.length_of == "text":
        out.append(f"{stats.examples - stats.conversations} record(s) whose text is not a Qwen3 conversation (see `dataset validate`)")
    return out
