"""Chat text that is not Qwen3 native: the legacy ChatML the guide keeps compatibility with, and
other models' formats, recognised so a rejection can name what it saw.

Legacy ChatML (the earlier HiveLLM experts' format) writes a turn as ``<|role|>\\ncontent\\n<|end|>``
with roles system, user and assistant; `parse_legacy_chatml` reads it into messages, which the
pipeline then writes in Qwen3 native format (and counts in the prepare summary).
"""

from __future__ import annotations

import re

from expertkit.data.chat_format import Message, scan_turns

_LEGACY_TURN = re.compile(r"<\|(system|user|assistant)\|>[ \t]*\r?\n?(.*?)(?:<\|end\|>|(?=<\|(?:system|user|assistant)\|>)|\Z)", re.S)
LEGACY_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>")

# (name, a marker that only this format writes), checked in order
FOREIGN_FORMATS = (
    ("Llama 3 (<|start_header_id|>)", "<|start_header_id|>"),
    ("Llama 2 / Mistral ([INST])", "[INST]"),
    ("Gemma (<start_of_turn>)", "<start_of_turn>"),
    ("Alpaca (### Instruction:)", "### Instruction:"),
    ("Vicuna (USER: / ASSISTANT:)", "ASSISTANT:"),
    ("Phi-3 (<|end|> turns)", "<|end|>"),
)


def is_legacy_chatml(text: str) -> bool:
    return any(marker in text for marker in LEGACY_MARKERS)


def parse_legacy_chatml(text: str) -> list[Message]:
    """Messages of a legacy ChatML conversation; ValueError names what is wrong."""
    messages = scan_turns(text, _LEGACY_TURN, "legacy ChatML: ", "\r\n")
    if not messages:
        raise ValueError("legacy ChatML: no turn found")
    return messages


def foreign_format(text: str) -> str | None:
    """The name of another chat format ``text`` is written in, or None."""
    return next((name for name, marker in FOREIGN_FORMATS if marker in text), None)
