"""Record slots: a grammar rule copied once per record (or linked pair of records) of the prompt.

A values slot narrows one rule to the prompt's names, but it can't bind names to each other:
with `table` and `column` filled from a schema, any column of any table is still allowed after
any table. A records slot reads *records* from the message — a name and its members, as in
`orders(id, total, user_id)` — and replaces its rule by the alternation of one copy per record.
In a copy, the rules the slot binds hold that record's values (`table` -> `"orders"`, `column`
-> `"id" | "total" | "user_id"`); every rule the slot's rule reaches that uses a bound rule is
copied along, the others are shared. The parser (xgrammar's Earley) follows every copy until
the text tells them apart, so a query that ends up `FROM orders` can only have used `orders`'
columns before it.

A ``record_pairs`` slot copies its rule per ordered pair of records (a, b) where a *refers to* b:
a member of a is b's name (or its singular: without -s, -es, or -ies -> -y), an underscore, and
a member of b (`user_id` in orders refers to users through `id`). Its `key` and `other_key`
bind those two members. A message whose records refer to none of each other gives every ordered
pair, with any member as key. Bindable values:

| key | records | record_pairs |
|---|---|---|
| name, members | the record's | a's |
| qualified | `name.member` for each member | both records' |
| key | - | a's referring member |
| other_name, other_members, other_key | - | b's, b's members, the member referred to |
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NOTHING = "[^\\x00-\\U0010FFFF]"  # a GBNF body no text matches: closes the branches that use it

# GBNF tokens: literals, classes and comments are copied as they are; names may be rule uses
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|#[^\n]*|[A-Za-z_][A-Za-z0-9_-]*|[^"\[#A-Za-z_]+|.', re.S)
_RULE = re.compile(r"^([A-Za-z0-9_-]+)[ \t]*::=", re.M)


@dataclass(frozen=True)
class Record:
    name: str
    members: tuple[str, ...]


def parse_records(texts: Iterable[str], pattern: str) -> list[Record]:
    """Each match of ``pattern`` (group 1 the name, group 2 the members, comma-separated; a member's
    first word counts, so `price REAL` gives `price`), first occurrence of a name kept."""
    regex = re.compile(pattern, re.M)
    found: dict[str, Record] = {}
    for text in texts:
        for match in regex.finditer(text):
            name = match.group(1)
            members = tuple(dict.fromkeys(part.split()[0] for part in (match.group(2) or "").split(",") if part.split()))
            if name and name not in found:
                found[name] = Record(name, members)
    return list(found.values())


def _names(stem: str, name: str) -> bool:
    """``stem`` names the record ``name``: the name itself or its singular."""
    return name in (stem, stem + "s", stem + "es") or (stem.endswith("y") and name == stem[:-1] + "ies")


def links(a: Record, b: Record) -> list[tuple[str, str]]:
    """(member of a, member of b) for each member of a that refers to b (see the module doc)."""
    return [(m, k) for m in a.members for k in b.members
            if m.endswith("_" + k) and _names(m[: -len(k) - 1], b.name)]


def gbnf_literal(value: str) -> str:
    """``value`` as a GBNF string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def _alternation(values: Iterable[str]) -> str:
    body = " | ".join(gbnf_literal(v) for v in dict.fromkeys(values))
    return body or NOTHING


def record_bindings(records: Sequence[Record], bind: dict[str, str]) -> list[dict[str, str]]:
    """One binding (bound rule -> GBNF body) per record."""
    out = []
    for r in records:
        values = {"name": [r.name], "members": list(r.members), "qualified": [f"{r.name}.{m}" for m in r.members]}
        out.append({rule: _alternation(values[key]) for key, rule in bind.items()})
    return out


def pair_bindings(records: Sequence[Record], bind: dict[str, str]) -> list[dict[str, str]]:
    """One binding per ordered pair (a, b) where a refers to b; every pair when none refers to another."""
    pairs = [(a, b, links(a, b)) for a in records for b in records if a is not b]
    linked = [p for p in pairs if p[2]]
    if not linked:  # no reference shown: any pair, keyed on any members
        linked = [(a, b, [(m, k) for m in a.members for k in b.members]) for a, b, _ in pairs]
    out = []
    for a, b, keys in linked:
        values = {"name": [a.name], "members": list(a.members), "key": [m for m, _ in keys],
                  "qualified": [f"{r.name}.{m}" for r in (a, b) for m in r.members],
                  "other_name": [b.name], "other_members": list(b.members), "other_key": [k for _, k in keys]}
        out.append({rule: _alternation(values[key]) for key, rule in bind.items()})
    return out


def _definitions(grammar: str) -> dict[str, tuple[int, int, int]]:
    """rule -> (start of its line, start of its body, end of its definition)."""
    starts = list(_RULE.finditer(grammar))
    return {m.group(1): (m.start(), m.end(), starts[k + 1].start() if k + 1 < len(starts) else len(grammar))
            for k, m in enumerate(starts)}


def _uses(body: str, rules: Iterable[str]) -> set[str]:
    known = set(rules)
    return {tok for tok in _TOKEN.findall(body) if tok in known}


def dependent_rules(grammar: str, rule: str, bound: Iterable[str]) -> list[str]:
    """The rules reachable from ``rule`` (itself included) that use a bound rule, directly or not."""
    defs = _definitions(grammar)
    uses = {name: _uses(grammar[start:end], defs) for name, (_, start, end) in defs.items()}
    reach, todo = {rule}, [rule]
    while todo:
        for used in uses.get(todo.pop(), ()):
            if used not in reach:
                reach.add(used)
                todo.append(used)
    depends = set(bound) & set(defs)
    changed = True
    while changed:  # a fixpoint, so recursive rules are handled
        grown = {r for r in reach if r not in depends and uses.get(r, set()) & depends}
        depends |= grown
        changed = bool(grown)
    return [r for r in defs if r in reach and r in depends and r not in set(bound)]


def specialise(grammar: str, rule: str, bindings: Sequence[dict[str, str]]) -> str:
    """``grammar`` with ``rule`` replaced by the alternation of one copy per binding; no binding: a
    rule that matches nothing (the caller keeps the file's rule when the message had no records)."""
    defs = _definitions(grammar)
    if rule not in defs:
        return grammar
    bound = list(bindings[0]) if bindings else []
    copied = dependent_rules(grammar, rule, bound)
    if rule not in copied:
        copied.append(rule)  # the rule uses no bound rule: its copies are still the alternatives
    extra = []
    for i, binding in enumerate(bindings):
        renames = {name: f"{rule}__{i}__{name}" for name in (*copied, *binding)}
        for name in copied:
            _, start, end = defs[name]
            body = "".join(renames.get(tok, tok) for tok in _TOKEN.findall(grammar[start:end].rstrip()))
            extra.append(f"{renames[name]} ::={body}")
        extra += [f"{renames[name]} ::= {value}" for name, value in binding.items()]
    head = " | ".join(f"{rule}__{i}__{rule}" for i in range(len(bindings))) or NOTHING
    line, _, end = defs[rule]
    text = f"{grammar[:line]}{rule} ::= {head}\n{grammar[end:]}".rstrip("\n")
    return text + ("\n" + "\n".join(extra) if extra else "") + "\n"
