"""Prompts for generation, built with the training template (`expertkit.data.chat_format`).

Training renders `<|im_start|>assistant\\n` followed by the (optionally think-prefixed) answer,
so the bare assistant header *is* the training prompt. The thinking switch picks what follows it:

* unset: nothing; the model decides whether to think, as it learned from the training mix.
* false: an empty think block, which is how Qwen3 switches thinking off; the answer starts at
  the first generated token.
* true: an open ``<think>`` line, so the model always reasons first (as the Qwen3-Thinking-2507
  and DeepSeek-R1 templates do). Without it a model trained on the 75/25 mix answers a quarter
  of the questions without thinking even when thinking was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from expertkit.data.chat_format import THINK_CLOSE, THINK_OPEN, Message, generation_prompt, split_reasoning

EMPTY_THINK = f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
OPEN_THINK = f"{THINK_OPEN}\n"
# what training puts between the think block and the answer (see chat_format.with_reasoning)
THINK_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Request:
    """One generation request: a user message (plus optional system message) or full messages."""

    input: str | None = None
    system: str | None = None
    messages: tuple[Message, ...] | None = None
    # the experts this request runs with: "a+b:0.5" or ["a", "b"]; [] = base; None = the caller's choice
    experts: str | tuple[str, ...] | None = None

    def to_messages(self, default_system: str | None = None) -> list[Message]:
        if self.messages is not None:
            return list(self.messages)
        system = self.system if self.system is not None else default_system
        msgs: list[Message] = [{"role": "system", "content": system}] if system else []
        msgs.append({"role": "user", "content": self.input or ""})
        return msgs


def as_request(item: str | Request | list[Message]) -> Request:
    """Accept a plain string (a user message), a message list or a Request."""
    if isinstance(item, Request):
        return item
    if isinstance(item, str):
        return Request(input=item)
    return Request(messages=tuple(item))


def prefill(enable_thinking: bool | None) -> str:
    """What the prompt puts after the assistant header for this thinking switch (see above)."""
    return {True: OPEN_THINK, False: EMPTY_THINK}.get(enable_thinking, "")  # type: ignore[arg-type]


def build_prompt(messages: list[Message], enable_thinking: bool | None) -> str:
    """The text fed to the model: the generation prompt plus the thinking switch's pre-fill."""
    return generation_prompt(messages) + prefill(enable_thinking)


def split_output(text: str) -> tuple[str | None, str]:
    """(reasoning or None, answer) of generated text; the answer loses the separator only."""
    reasoning, answer = split_reasoning(text)
    return reasoning, answer.strip()
