"""The Qwen3 native chat format (`<|im_start|>role\\ncontent<|im_end|>\\n`), in one place.

Dataset preparation writes it, training tokenizes it turn by turn (so the loss mask comes from
the structured turns, never from searching text), and the runtime builds prompts with it, so
train and inference can't disagree about the template or the thinking block.
"""

from __future__ import annotations

import re
from typing import TypedDict

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ROLES = ("system", "user", "assistant", "tool")


class Message(TypedDict):
    role: str
    content: str


def format_turn(role: str, content: str) -> str:
    """One turn, byte-for-byte as in the guide."""
    return f"{IM_START}{role}\n{content}{IM_END}\n"


def format_chat(messages: list[Message]) -> str:
    """A whole conversation in Qwen3 native format (the prepared `text` field)."""
    return "".join(format_turn(m["role"], m["content"]) for m in messages)


def generation_prompt(messages: list[Message]) -> str:
    """The prompt for the next assistant turn: the conversation plus an open assistant header."""
    return format_chat(messages) + f"{IM_START}assistant\n"


def with_reasoning(answer: str, reasoning: str | None) -> str:
    """Assistant content with an optional think block before the answer (Qwen3 hybrid reasoning)."""
    if not reasoning:
        return answer
    return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer}"


_THINK_RE = re.compile(rf"^\s*{re.escape(THINK_OPEN)}(.*?){re.escape(THINK_CLOSE)}\s*", re.S)


def split_reasoning(content: str) -> tuple[str | None, str]:
    """(reasoning or None, answer) from assistant content; an unclosed block is all reasoning."""
    match = _THINK_RE.match(content)
    if match:
        reasoning = match.group(1).strip()
        return (reasoning or None), content[match.end():]
    stripped = content.lstrip()
    if stripped.startswith(THINK_OPEN):
        return stripped[len(THINK_OPEN):].strip() or None, ""
    return None, content


_TURN_RE = re.compile(rf"{re.escape(IM_START)}([a-z_]+)\n(.*?){re.escape(IM_END)}\n?", re.S)


def parse_chat(text: str) -> list[Message]:
    """Inverse of `format_chat` for well-formed text; raises ValueError naming what is wrong."""
    return scan_turns(text, _TURN_RE)


def scan_turns(text: str, turn_re: re.Pattern[str], prefix: str = "", strip: str = "") -> list[Message]:
    """Messages from consecutive ``turn_re`` matches (group 1 the role, group 2 the content);
    text between or after turns is a ValueError naming the offset."""
    messages: list[Message] = []
    pos = 0
    for match in turn_re.finditer(text):
        if text[pos:match.start()].strip():
            raise ValueError(f"{prefix}text outside a turn at offset {pos}: {text[pos:match.start()][:40]!r}")
        role = match.group(1)
        if role not in ROLES:
            raise ValueError(f"{prefix}unknown role {role!r} (expected one of {', '.join(ROLES)})")
        messages.append({"role": role, "content": match.group(2).strip(strip) if strip else match.group(2)})
        pos = match.end()
    if text[pos:].strip():
        raise ValueError(f"{prefix}unterminated or malformed turn at offset {pos}: {text[pos:][:40]!r}")
    return messages
