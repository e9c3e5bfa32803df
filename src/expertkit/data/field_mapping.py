"""Turn one raw record into a conversation (system/user/assistant turns), as `field_mapping` says.

Three raw shapes are understood, picked per record in this order:

* ``messages``: a list of ``{"role", "content"}`` turns (ShareGPT's ``{"from": "human"|"gpt",
  "value"}`` too), multi-turn allowed; the last turn must be the assistant's.
* ``text``: a conversation already in Qwen3 native format; parsed with `chat_format.parse_chat`.
* instruction/response: ``instruction`` (or ``question``) is the user turn and ``output``
  (or ``response``/``answer``) the assistant turn. ``input`` (or ``context``) is the task's
  context: it goes into the system turn after the system prompt, on its own line, as the
  guide's preprocess.py does (``input_role: "user"`` appends it to the user turn instead).
  So ``{"input": "Dialect: sql\\nSchema:\\nusers(id, name, email)", "instruction": "Find all
  users", "output": "SELECT * FROM users;"}`` becomes exactly the guide's example line.

`field_mapping` maps our role names to raw field names: the guide's ``{"instruction":
"instruction", "input": "input", "response": "output"}`` means the answer is in ``output``.
Roles not mapped keep their default field names. A think block already at the start of the
final assistant turn is split off as that example's available reasoning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from expertkit.data.chat_dialects import foreign_format, is_legacy_chatml, parse_legacy_chatml
from expertkit.data.chat_format import ROLES, Message, parse_chat, split_reasoning
from expertkit.errors import DatasetError

# role -> default raw field; roles in one group are alternatives (the first present wins)
USER_ROLES = ("instruction", "question")
ANSWER_ROLES = ("response", "output", "answer")
INPUT_ROLES = ("input", "context")
SINGLE_ROLES = ("system", "reasoning", "messages", "text")
KNOWN_ROLES = USER_ROLES + ANSWER_ROLES + INPUT_ROLES + SINGLE_ROLES
_DEFAULT_ANSWER_FIELDS = ("output", "response", "answer")
_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


class RecordError(Exception):
    """One record can't become a conversation; the message names the field."""


@dataclass(frozen=True)
class FieldMapping:
    user: tuple[str, ...]
    answer: tuple[str, ...]
    input: tuple[str, ...]
    system: str
    reasoning: str
    messages: str
    text: str
    input_role: str = "system"

    @classmethod
    def from_manifest(cls, mapping: dict[str, str] | None, input_role: str = "system") -> FieldMapping:
        mapping = dict(mapping or {})
        for role, field in mapping.items():
            if role.startswith("_"):
                continue
            if role not in KNOWN_ROLES:
                raise DatasetError(
                    f"training.dataset.field_mapping.{role}: unknown role (expected one of {', '.join(KNOWN_ROLES)})",
                    hint="keys are our role names, values the field names in your raw data",
                )
            if not isinstance(field, str) or not field:
                raise DatasetError(f"training.dataset.field_mapping.{role}: expected a raw field name, found {field!r}")
        if input_role not in ("system", "user"):
            raise DatasetError(f"training.dataset.input_role: {input_role!r} is not allowed (expected system or user)")

        # a field mapped to one role is never another role's default ({"instruction": "input"}
        # must not also read `input` as the context)
        taken = {f for r, f in mapping.items() if not r.startswith("_")}

        def group(roles: tuple[str, ...], defaults: tuple[str, ...]) -> tuple[str, ...]:
            mapped = tuple(dict.fromkeys(mapping[r] for r in roles if r in mapping))
            return mapped or tuple(f for f in defaults if f not in taken)

        def single(role: str) -> str:
            return mapping.get(role, "" if role in taken else role)

        return cls(
            user=group(USER_ROLES, USER_ROLES),
            answer=group(ANSWER_ROLES, _DEFAULT_ANSWER_FIELDS),
            input=group(INPUT_ROLES, INPUT_ROLES),
            system=single("system"),
            reasoning=single("reasoning"),
            messages=single("messages"),
            text=single("text"),
            input_role=input_role,
        )


@dataclass(slots=True)
class Conversation:
    """A mapped example: turns with the bare final answer, plus what dedup and reasoning need."""

    messages: list[Message]  # the last one is the assistant's, without a think block
    reasoning: str | None  # reasoning available for the final answer (field or existing think block)
    shape: str  # "instruction" | "messages" | "text"
    key: tuple  # default dedup key

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]


def as_text(value: Any, field: str) -> str | None:
    """A raw value as text: strings as they are, JSON values serialised, null/absent as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | dict | list):
        return json.dumps(value, ensure_ascii=False)
    raise RecordError(f"field {field!r}: expected text, found {type(value).__name__}")


def get_field(data: dict[str, Any], field: str) -> Any:
    """``data[field]``; a dotted name (``input.instruction``) walks nested objects. "" is no field."""
    if not field:
        return None
    if field in data or "." not in field:
        return data.get(field)
    node: Any = data
    for part in field.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _first(data: dict[str, Any], fields: tuple[str, ...], *, strip: bool = True) -> tuple[str | None, str | None]:
    """(field name, non-empty text) of the first present field, or (None, None)."""
    for field in fields:
        text = as_text(get_field(data, field), field)
        if text is not None:
            text = text.strip() if strip else text
            if text:
                return field, text
    return None, None


def to_conversation(
    data: dict[str, Any], fm: FieldMapping, system_prompt: str | None, system_override: str | None = None
) -> Conversation:
    """Map one raw record.

    ``system_prompt`` is used when the record brings no system text of its own;
    ``system_override`` (a `system_prompt` hook's result) replaces the record's and the default.
    """
    if get_field(data, fm.messages) is not None:
        messages = _from_messages(get_field(data, fm.messages), fm.messages)
        return _finish_turns(messages, data, fm, system_prompt, system_override, "messages")
    if get_field(data, fm.text) is not None:
        messages, shape = _from_text(as_text(get_field(data, fm.text), fm.text) or "", fm.text)
        return _finish_turns(messages, data, fm, system_prompt, system_override, shape)
    return _from_instruction(data, fm, system_prompt, system_override)


def _from_text(text: str, field: str) -> tuple[list[Message], str]:
    """Qwen3 native text, or legacy ChatML (converted: shape ``legacy_chatml``); another chat
    format is named in the rejection."""
    try:
        return parse_chat(text), "text"
    except ValueError as exc:
        native_error = exc
    if is_legacy_chatml(text):
        try:
            return parse_legacy_chatml(text), "legacy_chatml"
        except ValueError as exc:
            raise RecordError(f"field {field!r}: {exc}") from None
    seen = foreign_format(text)
    if seen:
        raise RecordError(f"field {field!r}: written in the {seen} chat format, not Qwen3 native "
                          "(<|im_start|>role ... <|im_end|>) or legacy ChatML (<|user|> ... <|end|>); convert it, "
                          "or map its parts with field_mapping")
    raise RecordError(f"field {field!r}: not in Qwen3 chat format: {native_error}")


def _from_instruction(data: dict[str, Any], fm: FieldMapping, system_prompt: str | None, system_override: str | None) -> Conversation:
    _, instruction = _first(data, fm.user)
    if instruction is None:
        raise RecordError(_missing(data, fm.user, also=(fm.messages, fm.text)))
    answer_field, raw_answer = _first(data, fm.answer)
    if raw_answer is None:
        raise RecordError(_missing(data, fm.answer))
    _, context = _first(data, fm.input)
    if system_override is not None:
        system = system_override
    else:
        _, own_system = _first(data, (fm.system,))
        system = own_system if own_system is not None else system_prompt
    user = instruction
    if context and fm.input_role == "system":
        system = f"{system}\n{context}" if system else context
    elif context:
        user = f"{instruction}\n\n{context}"
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    reasoning, answer = _answer_and_reasoning(data, fm, raw_answer, answer_field)
    messages.append({"role": "assistant", "content": answer})
    return Conversation(messages, reasoning, "instruction", (instruction, context, raw_answer))


def _missing(data: dict[str, Any], fields: tuple[str, ...], also: tuple[str, ...] = ()) -> str:
    present = [f for f in fields if get_field(data, f) is not None]
    if present:
        return f"field {present[0]!r} is empty"
    names = " or ".join(repr(f) for f in fields + also)
    return f"missing field {names} (see training.dataset.field_mapping)"


def _answer_and_reasoning(data: dict[str, Any], fm: FieldMapping, answer: str, where: str) -> tuple[str | None, str]:
    """(available reasoning, bare answer): a think block already in the answer is split off;
    the `reasoning` field, when present, wins over it."""
    existing, answer = split_reasoning(answer)
    if not answer.strip():
        raise RecordError(f"field {where!r}: the assistant's answer is empty")
    _, field_reasoning = _first(data, (fm.reasoning,))
    return field_reasoning or existing, answer


def _from_messages(value: Any, field: str) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise RecordError(f"field {field!r}: expected a non-empty list of turns")
    messages: list[Message] = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict):
            raise RecordError(f"{field}[{i}]: expected an object with role and content")
        if "role" in turn:
            role, content = turn.get("role"), turn.get("content")
        else:  # ShareGPT
            role, content = _SHAREGPT_ROLES.get(turn.get("from"), turn.get("from")), turn.get("value")
        if role not in ROLES:
            raise RecordError(f"{field}[{i}].role: {role!r} is not a known role (expected one of {', '.join(ROLES)})")
        if not isinstance(content, str):
            raise RecordError(f"{field}[{i}].content: expected text, found {type(content).__name__}")
        messages.append({"role": role, "content": content})
    return messages


def _finish_turns(
    messages: list[Message], data: dict[str, Any], fm: FieldMapping, system_prompt: str | None, system_override: str | None, shape: str
) -> Conversation:
    where = fm.messages if shape == "messages" else fm.text  # text and legacy_chatml
    if not messages:
        raise RecordError(f"field {where!r}: no turns found")
    last = messages[-1]
    if last["role"] != "assistant":
        raise RecordError(f"field {where!r}: the last turn must be the assistant's, found {last['role']!r}")
    if not any(m["role"] == "user" for m in messages):
        raise RecordError(f"field {where!r}: no user turn")
    system = system_override if system_override is not None else (None if messages[0]["role"] == "system" else system_prompt)
    if system is not None and messages[0]["role"] == "system":
        messages[0] = {"role": "system", "content": system}
    elif system:
        messages.insert(0, {"role": "system", "content": system})
    reasoning, answer = _answer_and_reasoning(data, fm, last["content"], where)
    messages[-1] = {"role": "assistant", "content": answer}
    key = tuple((m["role"], m["content"]) for m in messages)
    return Conversation(messages, reasoning, shape, key)
