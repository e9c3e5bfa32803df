"""Checks a mapped example must pass before it is written (`training.dataset.validation`).

Each check returns the reason as one short sentence naming the field, or None; the pipeline
puts the reason next to the record in `rejected.jsonl` (or stops with `file:line: reason`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from expertkit.data.field_mapping import Conversation


@dataclass(frozen=True)
class Rules:
    min_length: int | None = None
    max_length: int | None = None
    require_json_output: bool = False
    required_fields: tuple[str, ...] | None = None  # None: the fields the record's shape needs

    @classmethod
    def from_manifest(cls, validation: Any) -> Rules:
        """From the manifest's `training.dataset.validation` section (or None)."""
        if validation is None:
            return cls()
        required = validation.required_fields
        return cls(
            min_length=validation.min_length,
            max_length=validation.max_length,
            require_json_output=bool(validation.require_json_output),
            required_fields=tuple(required) if required is not None else None,
        )


def missing_required(data: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    """The first required raw field that is absent, null or blank."""
    for field in fields:
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return f"missing required field {field!r}" if field not in data or value is None else f"required field {field!r} is empty"
    return None


def check_conversation(conv: Conversation, rules: Rules) -> str | None:
    """Length and JSON checks on the final answer (the bare answer, without a think block)."""
    answer = conv.answer
    if rules.min_length is not None and len(answer) < rules.min_length:
        return f"output is {len(answer)} characters, shorter than validation.min_length {rules.min_length}"
    if rules.max_length is not None and len(answer) > rules.max_length:
        return f"output is {len(answer)} characters, longer than validation.max_length {rules.max_length}"
    if rules.require_json_output:
        try:
            json.loads(answer)
        except json.JSONDecodeError as exc:
            return f"output is not valid JSON (validation.require_json_output): {exc.msg} (column {exc.colno})"
    return None
