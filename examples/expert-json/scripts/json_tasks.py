"""One extraction task: a schema drawn from a domain, values, a free text that states them, the answer.

`make_example(domain, rng)` picks 3-6 of the domain's fields (its core fields always, the rest
at random, in random order), marks about a third of the optional ones nullable (a nullable field
is then left out of the text, or said to be unknown, half of the time: its answer is `null`),
draws the values and writes the text in one of three styles (prose, a note, a short message)
with the facts in an order of their own, sometimes with a fact the schema does not ask for.
The answer is the object in the schema's property order, serialised as xgrammar's JSON-Schema
grammar writes JSON (`", "` and `": "` separators), so training and constrained decoding agree.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from json_domains import DOMAINS
from json_fields import Domain, Field, object_schema

INSTRUCTIONS = (
    "Extract the {entity} as JSON matching this schema:",
    "Return JSON valid under this schema:",
    "Fill this JSON Schema from the {entity}; null when not stated.",
    "JSON Schema:",
    "Answer with JSON only. Schema:",
)
UNKNOWN = ("{name} unknown", "no {name} given", "{name} not stated")
OPENERS = ("", "Details: ", "Notes: ", "Also, ")


@dataclass(frozen=True)
class Mix:
    """How often a text carries facts the schema does not ask for (distractors).

    The default is what the test cases are drawn with (tests/test_cases.json must not change
    when the training mix does). TRAIN_MIX puts a distractor in most training texts, sometimes
    two: the measured failures were a distractor copied into a nullable field
    (`"breed": "rabbit"` from "the species is rabbit") and numbers swapped between fields, so
    the model must see many texts where a fact of the right type belongs to no asked key.
    """

    extra_share: float = 0.3  # share of texts with one unasked fact
    second_extra_share: float = 0.0  # of those, the share with a second one


TRAIN_MIX = Mix(extra_share=0.6, second_extra_share=0.4)


def schema_text(schema: dict[str, Any]) -> str:
    """The schema as the system message shows it: compact JSON."""
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def answer_text(obj: dict[str, Any]) -> str:
    """The object as the JSON-Schema grammar writes it."""
    return json.dumps(obj, ensure_ascii=False)


def system_message(domain: Domain, schema: dict[str, Any], rng: random.Random) -> str:
    return rng.choice(INSTRUCTIONS).format(entity=domain.entity) + "\n" + schema_text(schema)


def _choose_fields(domain: Domain, rng: random.Random) -> list[tuple[Field, bool]]:
    core = [domain.field(k) for k in domain.core]
    rest = [f for f in domain.fields if f.key not in domain.core]
    want = rng.randint(max(3, len(core) + 1), min(6, len(domain.fields)))
    chosen = rng.sample(rest, want - len(core))
    if rng.random() < 0.7:  # core keys first, as most hand-made schemas put the identity first
        ordered = core + chosen
    else:
        ordered = rng.sample(core + chosen, len(core) + len(chosen))
    return [(f, f.key not in domain.core and rng.random() < 0.35) for f in ordered]


def _sentence(phrases: list[tuple[str, bool]], rng: random.Random) -> str:
    """Phrases joined into one sentence; capitalised only when that can't change a value."""
    from json_fields import join_words

    text = rng.choice(OPENERS) + join_words([p for p, _ in phrases])
    if not text.startswith(("Details", "Notes", "Also")) and phrases[0][1]:
        text = text[0].upper() + text[1:]
    return text + "."


def _write(domain: Domain, intro: str, said: list[tuple[str, bool]], rng: random.Random) -> str:
    style = rng.choice(("prose", "prose", "note", "message"))
    if style == "note":
        sep = rng.choice(("; ", "\n", ", "))
        return intro + "\n" + sep.join(p for p, _ in said)
    if not said:
        return intro
    cut = rng.randint(1, len(said))
    body = " ".join(_sentence(part, rng) for part in (said[:cut], said[cut:]) if part)
    text = f"{intro} {body}"
    return f"Hi! {text} Thanks!" if style == "message" else text


def make_example(domain: Domain, rng: random.Random, mix: Mix = Mix()) -> dict[str, Any]:
    fields = _choose_fields(domain, rng)
    values = {f.key: f.pick(rng) for f, _ in fields}
    answer: dict[str, Any] = {}
    said: list[tuple[str, bool]] = []  # (phrase, safe to capitalise)
    for f, nullable in fields:
        if nullable and rng.random() < 0.5:
            answer[f.key] = None
            if rng.random() < 0.4:
                said.append((rng.choice(UNKNOWN).format(name=f.name), True))
            continue
        answer[f.key] = values[f.key]
        if f.key not in domain.core:
            phrase = f.say(values[f.key], rng)
            said.append((phrase, not phrase.startswith(f.text_of(values[f.key]))))
    said += _distractors(domain, {f.key for f, _ in fields}, mix, rng)
    rng.shuffle(said)
    core_text = {k: domain.field(k).text_of(values[k]) for k in domain.core}
    intro = rng.choice(domain.intros).format(**core_text)
    schema = object_schema(fields)
    return {
        "instruction": _write(domain, intro, said, rng),
        "input": system_message(domain, schema, rng),
        "output": answer_text(answer),
        "domain": domain.name,
        "schema": schema,
        "shape": shape_of(fields, answer),
    }


def _distractors(domain: Domain, asked: set[str], mix: Mix, rng: random.Random) -> list[tuple[str, bool]]:
    """Facts the schema does not ask for: they must stay out of the answer."""
    spare = [f for f in domain.fields if f.key not in asked and f.kind not in ("object", "object_array")]
    if not spare or rng.random() >= mix.extra_share:
        return []
    # the default mix draws exactly as before (one rng.choice), so the committed test cases stay the same
    extras = [rng.choice(spare)]
    if mix.second_extra_share and len(spare) > 1 and rng.random() < mix.second_extra_share:
        extras.append(rng.choice([f for f in spare if f is not extras[0]]))
    return [(f.say(f.pick(rng), rng), False) for f in extras]


def shape_of(fields: list[tuple[Field, bool]], answer: dict[str, Any]) -> str:
    """hard: nested objects or arrays; edge: a null or a boolean to infer; basic: flat values."""
    kinds = {f.kind for f, _ in fields}
    if kinds & {"object", "object_array", "array", "enum_array"}:
        return "hard"
    if any(v is None for v in answer.values()) or "boolean" in kinds:
        return "edge"
    return "basic"


def examples(domains: tuple[str, ...], count: int, seed: int, mix: Mix = Mix()) -> list[dict[str, Any]]:
    """``count`` distinct examples over ``domains``; the same arguments give the same list."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 20:
            raise RuntimeError(f"only {len(out)} distinct examples after {attempts} attempts")
        ex = make_example(DOMAINS[rng.choice(domains)], rng, mix)
        key = (ex["instruction"], ex["input"])
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def check_answer(example: dict[str, Any]) -> None:
    """The answer parses and is valid under the example's schema (raises ValueError)."""
    import jsonschema

    try:
        jsonschema.validate(json.loads(example["output"]), example["schema"])
    except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
        raise ValueError(f"{example['domain']}: answer {example['output']} does not fit its schema: {exc}") from None
