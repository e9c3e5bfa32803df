"""Text deltas from token ids as they arrive: the think block kept apart, stops never overshot.

`RowText` turns one row's growing token ids into ("reasoning" | "answer", text) deltas. It holds
back what may still change: an incomplete UTF-8 character, a partial ``</think>`` or stop
sequence, trailing whitespace (the final answer is stripped). ``finish`` emits the rest from the
finished `Generation`, so the joined deltas equal what `generate()` returns, by construction.

`run_in_thread` turns a callback-driven decode (HF ``generate``, or a backend's ``on_token``)
into an iterator; closing the iterator early sets the cancel flag so decoding stops.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from expertkit.data.chat_format import THINK_CLOSE, THINK_OPEN

REASONING, ANSWER = "reasoning", "answer"


class RowText:
    def __init__(self, decode: Callable[[list[int]], str], prefix: str, stops: tuple[str, ...]) -> None:
        self.decode = decode
        self.prefix = prefix
        self.stops = stops
        self.ids: list[int] = []
        self.sent = {REASONING: "", ANSWER: ""}

    def push(self, token: int) -> list[tuple[str, str]]:
        self.ids.append(token)
        text = self.prefix + self.decode(self.ids)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
            return []
        reasoning, answer = _live_split(text)
        out = []
        for channel, live in ((REASONING, reasoning), (ANSWER, answer)):
            if live is None:
                continue
            safe = self._safe(live, channel)
            if safe.startswith(self.sent[channel]) and len(safe) > len(self.sent[channel]):
                out.append((channel, safe[len(self.sent[channel]):]))
                self.sent[channel] = safe
        return out

    def _safe(self, live: str, channel: str) -> str:
        """The part of ``live`` that can't change any more."""
        held = (THINK_CLOSE,) if channel == REASONING else self.stops
        for stop in self.stops if channel == ANSWER else ():
            cut = live.find(stop)
            if cut >= 0:
                live = live[:cut]
        for tail in held:
            for k in range(min(len(tail) - 1, len(live)), 0, -1):
                if live.endswith(tail[:k]):
                    live = live[:-k]
                    break
        return live.lstrip().rstrip()

    def finish(self, reasoning: str | None, answer: str) -> list[tuple[str, str]]:
        out = []
        for channel, final in ((REASONING, reasoning or ""), (ANSWER, answer)):
            sent = self.sent[channel]
            if final.startswith(sent) and len(final) > len(sent):
                out.append((channel, final[len(sent):]))
        return out


def _live_split(text: str) -> tuple[str | None, str | None]:
    """(reasoning so far, answer so far); None where nothing can be said yet."""
    stripped = text.lstrip()
    if stripped.startswith(THINK_OPEN):
        body = stripped[len(THINK_OPEN):]
        cut = body.find(THINK_CLOSE)
        return (body, None) if cut < 0 else (body[:cut], body[cut + len(THINK_CLOSE):])
    if THINK_OPEN.startswith(stripped):  # may still become "<think>"
        return None, None
    return None, text


_DONE = object()


def run_in_thread(work: Callable[[Callable[[Any], None]], Any], cancel: threading.Event) -> Iterator[tuple[str, Any]]:
    """Run ``work(emit)`` in a thread; yields ("item", x) per ``emit(x)`` then ("result", value).

    An exception in ``work`` is re-raised here. Closing the iterator sets ``cancel`` and waits."""
    items: queue.Queue[Any] = queue.Queue()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(items.put)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            items.put(_DONE)

    thread = threading.Thread(target=target, name="expertkit-decode", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _DONE:
            yield "item", item
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        yield "result", outcome["value"]
    finally:
        if thread.is_alive():
            cancel.set()
            thread.join()
