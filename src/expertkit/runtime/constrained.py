"""Grammar-constrained decoding that starts after the think block.

A transformers `LogitsProcessor` with one xgrammar matcher per batch row and a small state
machine per row, working on token *bytes* (so it works whether `<think>` is one special token,
as in Qwen3, or several ordinary ones, as in SmolLM2):

- START (thinking allowed, nothing generated yet): two hypotheses run side by side. The
  allowed tokens are the grammar's allowed tokens plus the tokens that continue `<think>`.
  Once the text is `<think>...` the row moves to THINKING (the matcher is reset); once it can
  no longer be `<think>`, the row is in GRAMMAR with the matcher already fed every token.
- THINKING: until `</think>` appears in the bytes. Free text, unless the manifest names a
  `reasoning_rule`: then a second matcher holds the think block (from after `<think>` through
  `</think>`) to that rule of the same grammar.
  With ``after_think`` (grammar slots that read the think block), the answer's matcher is
  replaced at `</think>` by one compiled for that think block: the answer follows the plan.
- SEPARATOR: the training separator (`\\n\\n`, see `chat_format.with_reasoning`) is forced,
  so the answer starts where training put it; then GRAMMAR.
- GRAMMAR: xgrammar's token bitmask; after the grammar completes only stop tokens are allowed.

When thinking is off (an empty think block is pre-filled) every row starts in GRAMMAR; when it is
on (the prompt ends with an open `<think>` line) every row starts in THINKING.
Rows the grammar doesn't touch are skipped via `apply_token_bitmask_inplace(indices=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import xgrammar as xgr
from transformers import LogitsProcessor

from expertkit.data.chat_format import THINK_CLOSE, THINK_OPEN
from expertkit.runtime.prompts import OPEN_THINK, THINK_SEPARATOR

START, THINKING, SEPARATOR, GRAMMAR = "start", "thinking", "separator", "grammar"
_OPEN = THINK_OPEN.encode()
_CLOSE = THINK_CLOSE.encode()


class ThinkVocab:
    """Per-tokenizer tables: each token's bytes and, per prefix of `<think>`, the tokens that continue it."""

    def __init__(self, token_bytes: list[bytes], vocab_size: int, encode: Any) -> None:
        self.token_bytes = token_bytes + [b""] * max(0, vocab_size - len(token_bytes))
        self.vocab_size = vocab_size
        self.encode = encode  # str -> list[int], for the forced separator
        self._continuations: dict[bytes, torch.Tensor] = {}

    def continuation_mask(self, prefix: bytes) -> torch.Tensor:
        """Packed bitmask (xgrammar layout) of tokens t with prefix+t still compatible with `<think>`."""
        if prefix not in self._continuations:
            allowed = torch.zeros(self.vocab_size, dtype=torch.bool)
            for i, tb in enumerate(self.token_bytes):
                q = prefix + tb
                if tb and (_OPEN.startswith(q) or q.startswith(_OPEN)):
                    allowed[i] = True
            self._continuations[prefix] = pack_bits(allowed)
        return self._continuations[prefix]


def pack_bits(allowed: torch.Tensor) -> torch.Tensor:
    """Bool vector -> int32 words, bit j of word j//32 set when token j is allowed."""
    words = (allowed.numel() + 31) // 32
    padded = torch.zeros(words * 32, dtype=torch.int64)
    padded[: allowed.numel()] = allowed.to(torch.int64)
    weights = torch.tensor([1 << b for b in range(32)], dtype=torch.int64)
    packed = (padded.view(words, 32) * weights).sum(dim=1)
    return torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32)


@dataclass
class RowState:
    matcher: Any
    state: str
    think_alive: bool = True
    grammar_alive: bool = True
    buffer: bytes = b""  # bytes of the think opener / block so far
    forced: list[int] = field(default_factory=list)
    violated: bool = False  # a token the grammar refused got through (should not happen)
    thought: Any = None  # matcher of the reasoning rule, when there is one
    after_think: Any = None  # think text -> compiled answer grammar, when the answer depends on it


class GrammarAfterThink(LogitsProcessor):
    """Apply each row's compiled grammar to its answer; single use (one `generate` call).

    ``grammars`` has one compiled grammar per batch row (rows may differ: grammar slots);
    ``reasoning`` likewise, compiled from the reasoning rule, or None for free-text reasoning;
    ``after_think`` one callable per row (think text -> compiled answer grammar), or None."""

    def __init__(self, grammars: list[Any], vocab: ThinkVocab, *, enable_thinking: bool | None,
                 stop_token_ids: list[int], reasoning: list[Any] | None = None,
                 after_think: list[Any] | None = None) -> None:
        self.vocab = vocab
        self.stop_token_ids = stop_token_ids
        # the first state follows the prompt's pre-fill for this switch (`prompts.prefill`)
        first = {True: THINKING, False: GRAMMAR}.get(enable_thinking, START)  # type: ignore[arg-type]
        self.rows = [RowState(xgr.GrammarMatcher(compiled, override_stop_tokens=stop_token_ids), first) for compiled in grammars]
        if reasoning is not None:
            for row, compiled in zip(self.rows, reasoning, strict=True):
                row.thought = xgr.GrammarMatcher(compiled, override_stop_tokens=stop_token_ids)
                if first == THINKING:  # the prompt's pre-fill already holds the line break after <think>
                    row.thought.accept_string(OPEN_THINK[len(THINK_OPEN):])
        for row, answer in zip(self.rows, after_think or [None] * len(self.rows), strict=True):
            row.after_think = answer
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab.vocab_size)
        self.prompt_len: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        elif input_ids.shape[1] > self.prompt_len:
            last = input_ids[:, -1].tolist()
            for row, token in zip(self.rows, last, strict=True):
                self._consume(row, token)
        masked = [i for i, row in enumerate(self.rows) if self._fill(i, row)]
        if masked:
            xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device), indices=masked, vocab_size=self.vocab.vocab_size)
        return scores

    # -- state machine -------------------------------------------------------------------
    def _consume(self, row: RowState, token: int) -> None:
        if row.state == GRAMMAR:
            if not row.matcher.is_terminated() and not row.matcher.accept_token(token):
                row.violated = True
        elif row.state == START:
            self._consume_start(row, token)
        elif row.state == THINKING:
            if row.thought is not None and not row.thought.accept_token(token):
                row.violated = True
            row.buffer += self.vocab.token_bytes[token]
            cut = row.buffer.find(_CLOSE)
            if cut >= 0:
                self._after_close(row, row.buffer, cut)
        elif row.state == SEPARATOR:
            row.forced.pop(0)
            if not row.forced:
                row.state = GRAMMAR

    def _consume_start(self, row: RowState, token: int) -> None:
        if row.grammar_alive:
            row.grammar_alive = bool(row.matcher.accept_token(token))
            if row.grammar_alive and row.matcher.is_terminated():  # a stop token: the answer was empty
                row.state = GRAMMAR
                return
        q = row.buffer + self.vocab.token_bytes[token]
        row.think_alive = row.think_alive and (_OPEN.startswith(q) or q.startswith(_OPEN))
        row.buffer = q
        if row.think_alive and q.startswith(_OPEN):
            row.state = THINKING
            row.matcher.reset()
            if row.thought is not None and len(q) > len(_OPEN):  # the token went past "<think>"
                row.violated |= not row.thought.accept_string(q[len(_OPEN):].decode("utf-8", "replace"))
            cut = q.find(_CLOSE)
            if cut >= 0:
                self._after_close(row, q, cut)
        elif not row.think_alive:
            row.state = GRAMMAR
            row.violated = not row.grammar_alive

    def _after_close(self, row: RowState, block: bytes, cut: int) -> None:
        """The think block closed at ``cut`` of ``block``; what follows `</think>` is answer text."""
        tail = block[cut + len(_CLOSE):].decode("utf-8", "replace")
        if row.after_think is not None:
            think = block[:cut].removeprefix(_OPEN).decode("utf-8", "replace")
            row.matcher = xgr.GrammarMatcher(row.after_think(think), override_stop_tokens=self.stop_token_ids)
        if THINK_SEPARATOR.startswith(tail):
            row.forced = list(self.vocab.encode(THINK_SEPARATOR[len(tail):]))
            row.state = SEPARATOR if row.forced else GRAMMAR
        else:  # the closing token carried answer text with it: the grammar must take that text
            row.state = GRAMMAR
            rest = tail.lstrip()
            if rest and not row.matcher.accept_string(rest):
                row.violated = True

    def _fill(self, i: int, row: RowState) -> bool:
        """Write row i's mask; False when the row is not constrained this step."""
        if row.state == GRAMMAR:
            if row.matcher.is_terminated():
                return False
            row.matcher.fill_next_token_bitmask(self.bitmask, i)
            return True
        if row.state == SEPARATOR:
            self.bitmask[i].zero_()
            token = row.forced[0]
            bit = 1 << (token % 32)
            self.bitmask[i, token // 32] = bit - 2**32 if bit >= 2**31 else bit  # int32 words
            return True
        if row.state == START:
            if row.grammar_alive:
                row.matcher.fill_next_token_bitmask(self.bitmask, i)
            else:
                self.bitmask[i].zero_()
            if row.think_alive:
                self.bitmask[i] |= self.vocab.continuation_mask(row.buffer)
            return True
        if row.state == THINKING and row.thought is not None and not row.thought.is_terminated():
            row.thought.fill_next_token_bitmask(self.bitmask, i)
            return True
        return False

    # -- results -------------------------------------------------------------------------
    def grammar_complete(self, i: int) -> bool:
        """Did row i's answer complete the grammar (not cut by max_new_tokens, no violation)?"""
        row = self.rows[i]
        if row.violated or row.state != GRAMMAR:
            return False
        return row.matcher.is_terminated() or row.matcher.is_completed()
