"""Fields of an extraction task: a value, how the text says it, and its piece of JSON Schema.

A `Field` knows its JSON key, its kind (string, integer, number, boolean, enum, array of
strings or enums, array of objects, nested object), where its values come from, and phrase
templates that say the value in free text (`{v}`; nested objects name their children's keys,
`{street}`). `pick` draws a value and `say` renders one phrase for it, both from the caller's
`random.Random`, so a seed fixes everything. A nullable field's schema type is `[T, "null"]`:
the text may not mention it, and the answer is then `null`.

Rendering rules that keep answers recoverable from the text alone: strings and enum values are
copied verbatim, numbers are written in digits (money with a `$`), booleans are said by phrases
chosen for true and for false, lists are written as "a, b and c".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

KINDS = ("string", "integer", "number", "boolean", "enum", "array", "enum_array", "object_array", "object")


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    values: tuple[Any, ...] = ()  # the pool: strings, (lo, hi) for numbers, enum members
    phrases: tuple[str, ...] = ()  # templates with {v} (or the children's keys for objects)
    no_phrases: tuple[str, ...] = ()  # booleans: how the text says false (phrases say true)
    children: tuple[Field, ...] = ()  # object / object_array
    label: str = ""  # how generic phrases name the field (default: the key with spaces)
    size: tuple[int, int] = (1, 3)  # arrays: how many items
    money: bool = False  # numbers: written as $12.50

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.key}: unknown kind {self.kind!r}")

    @property
    def name(self) -> str:
        return self.label or self.key.replace("_", " ")

    # -- schema ---------------------------------------------------------------------------
    def schema(self, nullable: bool = False) -> dict[str, Any]:
        out: dict[str, Any]
        if self.kind in ("string", "integer", "number", "boolean"):
            out = {"type": self.kind}
        elif self.kind == "enum":
            out = {"type": "string", "enum": list(self.values)}
        elif self.kind == "array":
            out = {"type": "array", "items": {"type": "string"}}
        elif self.kind == "enum_array":
            out = {"type": "array", "items": {"type": "string", "enum": list(self.values)}}
        else:
            obj = object_schema([(c, False) for c in self.children])
            out = obj if self.kind == "object" else {"type": "array", "items": obj}
        if nullable:
            out["type"] = [out["type"], "null"]
            if "enum" in out:  # an enum lists every allowed value, null included
                out["enum"] = [*out["enum"], None]
        return out

    # -- values and text --------------------------------------------------------------------
    def pick(self, rng: random.Random) -> Any:
        if self.kind in ("string", "enum"):
            return rng.choice(self.values)
        if self.kind == "integer":
            lo, hi = self.values
            return rng.randint(lo, hi)
        if self.kind == "number":
            lo, hi = self.values
            # cents never end in 0, so the text's digits are the answer's digits ($12.25 -> 12.25)
            cents = rng.choice((0, 0, 25, 99, 45, rng.randrange(1, 10) * 10 + rng.randrange(1, 10)))
            value = round(rng.randint(lo, hi) + cents / 100, 2)
            return int(value) if value == int(value) else value
        if self.kind == "boolean":
            return rng.random() < 0.5
        if self.kind in ("array", "enum_array"):
            return rng.sample(self.values, min(len(self.values), rng.randint(*self.size)))
        if self.kind == "object":
            return {c.key: c.pick(rng) for c in self.children}
        return [{c.key: c.pick(rng) for c in self.children} for _ in range(rng.randint(*self.size))]

    def text_of(self, value: Any) -> str:
        """``value`` as free text writes it."""
        if isinstance(value, list):
            return join_words([self.children_text(v) if isinstance(v, dict) else str(v) for v in value])
        if self.kind == "number":
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            return f"${shown}" if self.money else shown
        return str(value)

    def children_text(self, item: dict[str, Any]) -> str:
        """One item of an object_array: its first phrase with the children's texts."""
        return self.phrases[0].format(**{c.key: c.text_of(item[c.key]) for c in self.children})

    def say(self, value: Any, rng: random.Random) -> str:
        """One phrase of the text that states ``value``."""
        if self.kind == "boolean":
            own = self.phrases if value else self.no_phrases
            generic = (f"{self.name}: {'yes' if value else 'no'}",)
            return rng.choice(own + generic if own else generic)
        if self.kind == "object":
            template = rng.choice(self.phrases)
            return template.format(**{c.key: c.text_of(value[c.key]) for c in self.children})
        shown = self.text_of(value)
        generic = (f"{self.name}: {shown}", f"the {self.name} is {shown}")
        if self.kind == "object_array":
            return rng.choice(self.phrases[1:] or generic).format(v=shown)
        return rng.choice(self.phrases + generic if self.phrases else generic).format(v=shown)


def object_schema(fields: list[tuple[Field, bool]]) -> dict[str, Any]:
    """The schema of an object with these (field, nullable) properties, all required."""
    return {"type": "object", "properties": {f.key: f.schema(nullable) for f, nullable in fields},
            "required": [f.key for f, _ in fields]}


def join_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Domain:
    """One kind of document: its entity, the fields a schema may ask for, how texts open."""

    name: str
    entity: str  # "apartment listing"
    fields: tuple[Field, ...]
    intros: tuple[str, ...]  # first sentence templates; may name any field's key, e.g. {title}
    core: tuple[str, ...] = ()  # keys every schema of this domain asks for (what intros name)
    extra: dict[str, Any] = field(default_factory=dict)

    def field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)
