"""Turn prepared dataset lines into token ids plus loss labels, masked turn by turn.

Each line of a prepared split is ``{"text": ..., "messages": [...]}`` (``text`` alone is parsed
back into turns with ``parse_chat``). The loss mask comes from the structured turns, never from
searching decoded text: the conversation is cut into spans at turn boundaries, each span is
tokenized on its own and labelled as a whole.

Mask boundaries (what the model is trained to produce):

* system / user / tool turns, ``<|im_start|>role\\n``: masked (-100).
* an assistant turn's header ``<|im_start|>assistant\\n``: masked. It is the end of the prompt the
  runtime builds with ``generation_prompt``; the prompt spans are tokenized exactly as the runtime
  tokenizes that prompt (the pieces meet at special tokens), so training sees the inference context.
* the assistant content (including a leading ``<think>`` block) and its ``<|im_end|>``: trained,
  so the model learns to answer and to stop.
* the ``\\n`` after ``<|im_end|>``: masked. Generation stops at ``<|im_end|>``, so the model never
  emits it; it is template glue before the next header.

Every span is tokenized with ``add_special_tokens=False`` (no BOS), like the ChatML prompt at
inference. Examples longer than ``max_seq_length`` keep their start and are counted; examples
left with no trained token are rejected with a reason (never dropped silently).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import IM_END, IM_START, format_turn, parse_chat
from expertkit.errors import DatasetError

IGNORE = -100


@dataclass
class Example:
    """One dataset line, as turns, with where it came from (for messages and rejects)."""

    messages: list[dict[str, str]]
    line: int


@dataclass
class TokenizedSplit:
    """The tokenized examples of one split plus what happened to the rest."""

    path: Path
    rows: list[dict[str, list[int]]]  # {"input_ids", "labels"}
    total: int = 0
    truncated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"file", "line", "reason"}
    tokens: int = 0
    trained_tokens: int = 0
    longest: int = 0

    def stats(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "examples": self.total,
            "used": len(self.rows),
            "truncated": self.truncated,
            "rejected": len(self.rejected),
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "longest_tokens_before_truncation": self.longest,
        }


def read_examples(path: Path) -> list[Example]:
    """Read a prepared JSONL split; a malformed line is a DatasetError naming file:line."""
    if not path.is_file():
        raise DatasetError(f"{path}: dataset file not found", hint="run `expert-cli dataset prepare`, or pass --dataset PATH")
    examples: list[Example] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            examples.append(Example(_messages_of(_parse_line(path, lineno, line), path, lineno), lineno))
    if not examples:
        raise DatasetError(f"{path}: dataset is empty (no examples)", hint="run `expert-cli dataset prepare` to fill it")
    return examples


def _parse_line(path: Path, lineno: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}:{lineno}: expected a JSON object with `messages` (or `text`)")
    return obj


def _messages_of(obj: dict[str, Any], path: Path, lineno: int) -> list[dict[str, str]]:
    messages = obj.get("messages")
    if messages is None and isinstance(obj.get("text"), str):
        try:
            messages = parse_chat(obj["text"])
        except ValueError as exc:
            raise DatasetError(f"{path}:{lineno}: `text` is not Qwen3/ChatML formatted: {exc}") from None
    if not isinstance(messages, list):
        raise DatasetError(
            f"{path}:{lineno}: no `messages` list (or ChatML `text`)", hint="prepared lines look like {\"text\": ..., \"messages\": [...]}"
        )
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DatasetError(f"{path}:{lineno}: messages[{i}] must be an object with string `role` and `content`")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def spans(messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
    """The conversation as (text, trained) spans; joined, they equal ``format_chat(messages)``."""
    out: list[tuple[str, bool]] = []
    for m in messages:
        if m["role"] == "assistant":
            out.append((f"{IM_START}assistant\n", False))
            out.append((m["content"] + IM_END, True))
            out.append(("\n", False))
        else:
            out.append((format_turn(m["role"], m["content"]), False))
    return out


def tokenize_examples(examples: list[Example], tokenizer: Any, max_seq_length: int, path: Path) -> TokenizedSplit:
    """Tokenize every example span by span (one batched tokenizer call) and build labels."""
    split = TokenizedSplit(path=path, rows=[], total=len(examples))
    plans = [spans(ex.messages) for ex in examples]
    flat = [text for plan in plans for text, _ in plan]
    ids_per_span = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    cursor = 0
    for ex, plan in zip(examples, plans, strict=True):
        input_ids: list[int] = []
        labels: list[int] = []
        for _text, trained in plan:
            ids = list(ids_per_span[cursor])
            cursor += 1
            input_ids.extend(ids)
            labels.extend(ids if trained else [IGNORE] * len(ids))
        _add_row(split, ex, input_ids, labels, max_seq_length, has_assistant=any(t for _, t in plan))
    return split


def _add_row(split: TokenizedSplit, ex: Example, input_ids: list[int], labels: list[int], max_len: int, *, has_assistant: bool) -> None:
    split.longest = max(split.longest, len(input_ids))
    if not has_assistant:
        split.rejected.append({"file": str(split.path), "line": ex.line, "reason": "no assistant turn (nothing to train on)"})
        return
    if len(input_ids) > max_len:
        split.truncated += 1
        input_ids, labels = input_ids[:max_len], labels[:max_len]
    if all(label == IGNORE for label in labels):
        split.rejected.append(
            {"file": str(split.path), "line": ex.line, "reason": f"no assistant token left after truncation to max_seq_length={max_len}"}
        )
        return
    split.rows.append({"input_ids": input_ids, "labels": labels})
    split.tokens += len(input_ids)
    split.trained_tokens += sum(1 for label in labels if label != IGNORE)


def load_split(path: Path, tokenizer: Any, max_seq_length: int, *, role: str = "training") -> TokenizedSplit:
    """Read + tokenize one split; raise one clear DatasetError when nothing is trainable."""
    examples = read_examples(path)
    split = tokenize_examples(examples, tokenizer, max_seq_length, path)
    no_turn = sum(1 for r in split.rejected if r["reason"].startswith("no assistant turn"))
    if no_turn == split.total:
        raise DatasetError(
            f"{path}: no example has an assistant turn ({split.total} examples; first at line {examples[0].line})",
            hint="each line needs messages with role `assistant` (the answer to learn)",
        )
    if split.truncated == split.total - no_turn:
        raise DatasetError(
            f"{path}: every example is longer than training.config.max_seq_length={max_seq_length} tokens "
            f"(longest {split.longest})",
            hint="raise training.config.max_seq_length or shorten the examples",
        )
    if not split.rows:
        raise DatasetError(f"{path}: no usable {role} example ({len(split.rejected)} rejected)", hint="see the rejected examples file")
    return split
