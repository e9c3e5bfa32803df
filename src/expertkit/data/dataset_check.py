"""`dataset validate`: is every line of a prepared file a well-formed Qwen3 conversation?

Per line: JSON object, a `text` string, turns `<|im_start|>role\\n...<|im_end|>\\n` with known
roles, no stray chat tags inside a turn, balanced `<think>` tags only at the start of an
assistant turn, a user turn, and a last turn from the assistant with a non-empty answer. When a
`messages` field is present it must format to exactly `text`. With a token counter (the base
model's tokenizer) it also counts examples longer than `max_seq_length` — those would be
truncated in training (a warning, not an error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import IM_END, IM_START, THINK_CLOSE, THINK_OPEN, format_chat, parse_chat, split_reasoning
from expertkit.data.raw_loaders import load_file
from expertkit.data.stats import length_summary
from expertkit.errors import DatasetError

TokenCounter = Callable[[list[str]], list[int]]
MAX_LISTED = 50  # problems listed in the report; the count is always complete


@dataclass
class CheckReport:
    path: str
    lines: int = 0
    valid: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)  # {"line", "message"} (first MAX_LISTED)
    problem_count: int = 0
    warnings: list[str] = field(default_factory=list)
    tokens: dict[str, Any] | None = None  # length summary in tokens
    max_seq_length: int | None = None
    truncated: int | None = None
    truncated_lines: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0 and self.lines > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "valid": self.ok, "lines": self.lines, "valid_lines": self.valid,
            "invalid_lines": self.problem_count, "problems": self.problems, "warnings": self.warnings,
            "tokens": self.tokens, "max_seq_length": self.max_seq_length, "truncated": self.truncated,
            "truncated_lines": self.truncated_lines[:MAX_LISTED],
        }


def check_text(text: Any) -> str | None:
    """Why ``text`` is not one well-formed Qwen3 training conversation, or None."""
    if not isinstance(text, str):
        return "missing field 'text'" if text is None else f"field 'text' must be a string, found {type(text).__name__}"
    if text.count(IM_START) != text.count(IM_END):
        return f"unbalanced chat tags: {text.count(IM_START)} {IM_START} vs {text.count(IM_END)} {IM_END}"
    try:
        messages = parse_chat(text)
    except ValueError as exc:
        return f"text: {exc}"
    return check_messages(messages)


def check_messages(messages: list[dict[str, Any]]) -> str | None:
    if not messages:
        return "text: no turns"
    for i, m in enumerate(messages):
        content = m["content"]
        if IM_START in content or IM_END in content:
            return f"turn {i + 1} ({m['role']}): stray chat tag inside the turn"
        opens, closes = content.count(THINK_OPEN), content.count(THINK_CLOSE)
        if opens != closes or opens > 1:
            return f"turn {i + 1} ({m['role']}): unbalanced think tags ({opens} {THINK_OPEN} vs {closes} {THINK_CLOSE})"
        if opens and (m["role"] != "assistant" or not content.lstrip().startswith(THINK_OPEN)):
            return f"turn {i + 1} ({m['role']}): a think block may only open an assistant turn"
    if not any(m["role"] == "user" for m in messages):
        return "no user turn"
    last = messages[-1]
    if last["role"] != "assistant":
        return f"the last turn must be the assistant's, found {last['role']!r}"
    if not split_reasoning(last["content"])[1].strip():
        return "the assistant's answer is empty"
    return None


def _check_record(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(error, warning) for one parsed line."""
    text = data.get("text")
    error = check_text(text)
    if error:
        return error, None
    messages = data.get("messages")
    if messages is not None:
        try:
            same = format_chat(messages) == text
        except (TypeError, KeyError):
            return "field 'messages' is not a list of {role, content} turns", None
        if not same:
            return "fields 'messages' and 'text' disagree (text must equal the formatted messages)", None
    if format_chat(parse_chat(text)) != text:
        return None, "text is not in canonical form (extra whitespace between turns or no final newline)"
    return None, None


def check_file(path: str | Path, *, count_tokens: TokenCounter | None = None, max_seq_length: int | None = None) -> CheckReport:
    """Check every line of a prepared .jsonl file; never raises for bad lines, only for an unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found", hint="run `expert-cli dataset prepare` first")
    report = CheckReport(str(path))
    good_texts: list[tuple[int, str]] = []
    canonical_warnings = 0
    for record in load_file(path, str(path)):
        report.lines += 1
        if record.data is None:
            error, warning = record.error, None
        else:
            error, warning = _check_record(record.data)
        if error:
            report.problem_count += 1
            if len(report.problems) < MAX_LISTED:
                report.problems.append({"line": record.line, "message": error})
            continue
        report.valid += 1
        canonical_warnings += warning is not None
        good_texts.append((record.line, record.data["text"]))
    if report.lines == 0:
        report.problems.append({"line": 0, "message": "the file has no examples"})
    if canonical_warnings:
        report.warnings.append(f"{canonical_warnings} line(s): text is not in canonical form (extra whitespace or no final newline)")
    if count_tokens is not None and good_texts:
        lengths = count_tokens([t for _, t in good_texts])
        report.tokens = length_summary(lengths)
        if max_seq_length:
            report.max_seq_length = max_seq_length
            report.truncated_lines = [line for (line, _), n in zip(good_texts, lengths, strict=True) if n > max_seq_length]
            report.truncated = len(report.truncated_lines)
            if report.truncated:
                report.warnings.append(f"{report.truncated} example(s) are longer than max_seq_length {max_seq_length} tokens and would be truncated")
    return report
