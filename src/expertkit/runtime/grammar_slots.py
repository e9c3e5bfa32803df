"""Grammar slots: grammar rules filled per request from the prompt (schema-aware decoding).

A static GBNF grammar can say "an identifier goes here" but not "one of *this* database's
tables". For a text-to-SQL expert most wrong answers on unseen schemas are exactly that: a
column remembered from training (`accounts.name`) or a value mis-copied from the question
(`'giraffa'`). PICARD-style decoding fixes this by only allowing names the input contains.

The manifest's `training.decoding.grammar_slots` maps a rule name to a message (`system`,
`user` or `prompt` = every message) and a regular expression. Per request, the rule's
definition in the grammar file is replaced by the alternation of the expression's matches in
that message (the first group that matched, when the pattern has groups). The file's own
definition is the fallback: it is what `text_matches_grammar` checks, and it stays when nothing
matches, so a prompt in an unexpected shape is constrained no worse than without slots.

A slot of kind ``json_schema`` fills its rule with the grammar of a JSON Schema the message
carries (the first JSON object in it; with a pattern, the first group of its first match that
parses): a format expert whose system message states the wanted object's schema is held to
exactly that schema, per request, as the server's ``response_format`` json_schema is. The
schema's rules are renamed under the slot (``root__...``) so they can't collide with the file's.

Slots of kind ``records`` / ``record_pairs`` copy their rule per record of the message, binding
names to each other (a table's columns to that table): see `grammar_records`.

A slot may read ``reasoning``: the model's own think block, once it has closed. The engine then
fills and compiles the answer's grammar again at `</think>` (`constrained.GrammarAfterThink`),
so the answer is held to what the plan chose (its table, its filter, what it returns). Such a
slot keeps the file's rule while there is no think block (thinking off, or the reasoning rule
itself); ``if_none`` says what an unmatched slot becomes once it is there ("empty": the empty
string, so an optional clause the plan didn't name is left out; "nothing": the branches using
it close), and ``template`` writes each match differently (``DISTINCT \1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from expertkit.data.chat_format import Message
from expertkit.errors import GrammarError
from expertkit.runtime.grammar_records import NOTHING, gbnf_literal, pair_bindings, parse_records, record_bindings, specialise

_RULE_START = re.compile(r"^([A-Za-z0-9_-]+)\s*::=", re.M)
REASONING = "reasoning"  # the role under which the closed think block is passed to slots


@dataclass(frozen=True)
class GrammarSlot:
    """Rule ``rule`` becomes the alternation of ``pattern``'s matches in message ``source``."""

    rule: str
    source: str
    pattern: str = ""
    kind: str = "values"  # "values" | "json_schema" | "records" | "record_pairs" (see the module doc)
    copy_from: str = ""  # json_schema: strings and numbers only from this message ("user", "system", "prompt")
    bind: tuple[tuple[str, str], ...] = ()  # records kinds: (record key, rule) pairs, see grammar_records
    template: str = ""  # values: each match written as this (`\1` the first group), not its first group
    if_none: str = "keep"  # the message is there but nothing matched: "keep" the file's rule, "empty", "nothing"
    names_from: str = ""  # records kinds: only the records (pairs: both) named by this slot's values

    def _texts(self, messages: Sequence[Message]) -> list[str]:
        texts = [m["content"] for m in messages if (self.source == "prompt" and m["role"] != REASONING) or m["role"] == self.source]
        return texts[-1:] if self.source in ("user", REASONING) else texts  # the question being answered, not earlier turns

    def present(self, messages: Sequence[Message]) -> bool:
        """The slot's message is in the request (a think block only once it has closed)."""
        return bool(self._texts(messages))

    def values(self, messages: Sequence[Message]) -> list[str]:
        """The distinct matches in first-seen order (a stable grammar text caches well)."""
        texts = self._texts(messages)
        regex = re.compile(self.pattern, re.M)
        found: dict[str, None] = {}
        for text in texts:
            for match in regex.finditer(text):
                # the first group that took part (patterns may be alternations), else the match
                value = next((g for g in match.groups() if g), None) if regex.groups else match.group(0)
                if self.template:
                    value = match.expand(self.template)
                if value:
                    found.setdefault(value, None)
        return list(found)

    def schema(self, messages: Sequence[Message]) -> dict[str, Any] | None:
        """json_schema slots: the first JSON object the message carries (see the module doc), or None."""
        for text in self._texts(messages):
            spans = ([next((g for g in m.groups() if g), m.group(0)) for m in re.finditer(self.pattern, text, re.M)]
                     if self.pattern else [text])
            for span in spans:
                found = first_json_object(span)
                if found is not None:
                    return found
        return None


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first ``{...}`` in ``text`` that parses as a JSON object."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def rule_span(text: str, rule: str) -> tuple[int, int] | None:
    """(start, end) of ``rule``'s definition: its `name ::=` line up to the next rule."""
    starts = list(_RULE_START.finditer(text))
    for k, match in enumerate(starts):
        if match.group(1) == rule:
            end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
            return match.start(), end
    return None


def check_slots(grammar: str, slots: Sequence[GrammarSlot], source: str = "grammar", reasoning_rule: str | None = None) -> None:
    """Every slot, and the reasoning rule, names a rule the grammar defines (otherwise filling
    it would silently do nothing)."""
    if reasoning_rule and rule_span(grammar, reasoning_rule) is None:
        raise GrammarError(f"training.decoding.reasoning_rule: {source} has no rule `{reasoning_rule} ::= ...`",
                           hint="define the rule (the think block after <think>, through </think>) or unset reasoning_rule")
    for slot in slots:
        for rule, what in ((slot.rule, "to fill"), *((r, f"to bind to {k}") for k, r in slot.bind)):
            if rule_span(grammar, rule) is None:
                raise GrammarError(
                    f"training.decoding.grammar_slots.{slot.rule}: {source} has no rule `{rule} ::= ...` {what}",
                    hint=f"define `{rule}` in the grammar (its definition is the fallback) or remove it from the slot",
                )
        if slot.names_from and slot.names_from not in {s.rule for s in slots if s.kind == "values"}:
            raise GrammarError(f"training.decoding.grammar_slots.{slot.rule}.names_from: {slot.names_from!r} is not a values slot",
                               hint="name a slot of kind values whose matches are record names")


def fill_slots(grammar: str, slots: Sequence[GrammarSlot], messages: Sequence[Message]) -> str:
    """The grammar text for one request: each slot rule narrowed to the prompt's values. Values
    and schema slots first, then records slots, which copy rules as the others left them."""
    found = {slot.rule: slot.values(messages) for slot in slots if slot.kind == "values" and slot.present(messages)}
    for slot in sorted(slots, key=lambda s: s.kind in ("records", "record_pairs")):
        span = rule_span(grammar, slot.rule)
        if span is None or not slot.present(messages):
            continue  # keep the file's definition
        if slot.kind == "json_schema":
            grammar = _fill_schema(grammar, slot, span, messages)
        elif slot.kind in ("records", "record_pairs"):
            grammar = _fill_records(grammar, slot, messages, found)
        elif found[slot.rule] or slot.if_none != "keep":
            body = " | ".join(gbnf_literal(v) for v in found[slot.rule]) or _NONE_BODY[slot.if_none]
            grammar = f"{grammar[:span[0]]}{slot.rule} ::= {body}\n{grammar[span[1]:]}"
    return grammar


_NONE_BODY = {"empty": '""', "nothing": NOTHING}


def _fill_schema(grammar: str, slot: GrammarSlot, span: tuple[int, int], messages: Sequence[Message]) -> str:
    schema = slot.schema(messages)
    if schema is None:
        return grammar  # keep the file's definition
    rules = schema_rules(json.dumps(schema), slot.rule)
    if slot.copy_from:
        rules = copy_values(rules, slot.rule, GrammarSlot(slot.rule, slot.copy_from)._texts(messages))
    grammar = f"{grammar[:span[0]]}{slot.rule} ::= {slot.rule}__root\n{grammar[span[1]:]}".rstrip("\n")
    return grammar + "\n" + rules + "\n"


def _fill_records(grammar: str, slot: GrammarSlot, messages: Sequence[Message], found: dict[str, list[str]]) -> str:
    """The slot's rule copied per record (pair) of the message; records named by ``names_from``
    only, when that slot's message is there (a plan that chose its table)."""
    records = parse_records(slot._texts(messages), slot.pattern)
    if not records:
        return grammar if slot.if_none == "keep" else specialise(grammar, slot.rule, [])
    bind = dict(slot.bind)
    if slot.names_from in found:
        named = set(found[slot.names_from])
        records = [r for r in records if r.name in named]
    if slot.kind == "records":
        return specialise(grammar, slot.rule, record_bindings(records, bind))
    return specialise(grammar, slot.rule, pair_bindings(records, bind))


_EBNF_NAME = re.compile(r'("(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\])|([A-Za-z_][A-Za-z0-9_]*)')


@lru_cache(maxsize=256)
def schema_rules(schema_json: str, rule: str) -> str:
    """The GBNF rules of a JSON Schema, every rule name prefixed with ``rule__`` (root: ``rule__root``)."""
    from expertkit.runtime.grammar import json_schema_gbnf

    try:
        text = json_schema_gbnf(json.loads(schema_json))
    except GrammarError as exc:
        raise GrammarError(f"training.decoding.grammar_slots.{rule}: the prompt's JSON Schema {exc.message}",
                           hint="give a valid JSON Schema (an object) in the message, or turn the grammar off") from None
    return _EBNF_NAME.sub(lambda m: m.group(1) or f"{rule}__{m.group(2)}", text)


_WORD = re.compile(r"\S+")
_NUMBER = re.compile(r"(?:(?<![\w-])-)?(?<![\d.])\d+(?:\.\d+)?(?![\d])")


def copy_values(rules: str, rule: str, texts: list[str]) -> str:
    """Schema rules whose strings are sequences of the texts' words (each also without its trailing
    punctuation) and whose numbers are numbers the texts write; a kind the texts have none of keeps
    the schema's own rule. Enums, booleans and null are untouched."""
    words: dict[str, None] = {}
    for token in (w for text in texts for w in _WORD.findall(text)):
        for variant in (token, token.rstrip(".,;:!?)"), token.strip("()[]\"'.,;:!?")):
            if variant:
                words.setdefault(json.dumps(variant, ensure_ascii=False)[1:-1], None)
    found = [n for text in texts for n in _NUMBER.findall(text) if not re.match(r"-?0\d", n)]
    numbers = [v for n in found for v in (n, json.dumps(float(n)) if "." in n else n)]  # 21.50 as written and as 21.5
    integers = [n for n in numbers if "." not in n]
    bodies = {
        "basic_string": f'"\\"" ({rule}__copy_word (" " {rule}__copy_word)*)? "\\""' if words else None,
        "copy_word": " | ".join(gbnf_literal(w) for w in words) if words else None,
        "basic_integer": " | ".join(gbnf_literal(n) for n in dict.fromkeys(integers)) if integers else None,
        "basic_number": " | ".join(gbnf_literal(n) for n in dict.fromkeys(numbers)) if numbers else None,
    }
    for name, body in bodies.items():
        if body is None:
            continue
        full = f"{rule}__{name}"
        found = rule_span(rules, full)
        line = f"{full} ::= {body}\n"
        rules = rules + "\n" + line if found is None else rules[:found[0]] + line + rules[found[1]:]
    return rules.rstrip("\n")

