"""More ways people ask, added to sql_asks' registry: words that stand for a column and short fragments.

People rarely name the column: "the youngest players" orders by age, "cheaper than 20" compares the
price, "more than 300 pages" filters on pages, "Which genres have more than 2 books?" groups and
counts, "Which countries are there?" asks for distinct values, "Highest price?" wants one number.
Each shape here says a question one of those ways; the SQL is the same plan the other shapes use.
Which word fits a column is decided from the column's name (``ADJECTIVES``), so a recombined
table whose column is called cost or unit_price gets "cheapest" too.
"""

from __future__ import annotations

import random

try:  # imported as a sibling module by the scripts and as a package module by the tests
    import sql_shapes as base
    from sql_schemas import PEOPLE, Column, Database, Schema, Table
except ImportError:  # pragma: no cover
    from . import sql_shapes as base
    from .sql_schemas import PEOPLE, Column, Database, Schema, Table

Plan = base.Plan
_pick, _q, _lit, _values, _threshold = base._pick, base._q, base._lit, base._values, base._threshold
tname, sname = base.tname, base.sname

# word in a column's name -> (superlative high, superlative low, comparative high, comparative low)
ADJECTIVES = {
    "age": ("oldest", "youngest", "older than", "younger than"),
    "price": ("most expensive", "cheapest", "more expensive than", "cheaper than"),
    "cost": ("most expensive", "cheapest", "more expensive than", "cheaper than"),
    "weight": ("heaviest", "lightest", "heavier than", "lighter than"),
    "height": ("tallest", "shortest", "taller than", "shorter than"),
    "length": ("longest", "shortest", "longer than", "shorter than"),
    "duration": ("longest", "shortest", "longer than", "shorter than"),
    "distance": ("longest", "shortest", "longer than", "shorter than"),
    "pages": ("longest", "shortest", "longer than", "shorter than"),
    "salary": ("best paid", "lowest paid", "earning more than", "earning less than"),
    "rating": ("best rated", "worst rated", "rated above", "rated below"),
    "stars": ("best rated", "worst rated", "with more stars than", "with fewer stars than"),
    "budget": ("biggest", "smallest", "with a budget above", "with a budget below"),
    "size": ("biggest", "smallest", "bigger than", "smaller than"),
}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def adjectives(c: Column) -> tuple[str, str, str, str] | None:
    parts = c.name.split("_")
    return next((ADJECTIVES[p] for p in parts if p in ADJECTIVES), None)


def plural(word: str) -> str:
    """English plural of a column phrase's last word: city -> cities, genre -> genres, class -> classes."""
    if word in ("species", "series"):
        return word
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "es" if word.endswith(("s", "x", "ch", "sh")) else word + "s"


def _num_word(k: int, rng: random.Random) -> str:
    return NUMBER_WORDS[k] if k in NUMBER_WORDS and rng.random() < 0.4 else str(k)


def _adj_table(s: Schema, rng: random.Random) -> tuple[Table, Column, tuple[str, str, str, str]] | None:
    options = [(t, c, a) for t in s.tables for c in t.of("num") if (a := adjectives(c))]
    return rng.choice(options) if options else None


def _only_table_with(s: Schema, t: Table, c: Column) -> bool:
    """Does no other table have this column? Only then can "Who is older than 40?" leave the table unnamed."""
    return all(c.name not in {x.name for x in o.columns} for o in s.tables if o is not t)


def superlative(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan] | None:
    """"the youngest players", "Cheapest product?", "Who is the oldest student?"."""
    found = _adj_table(s, rng)
    if found is None:
        return None
    t, c, adj = found
    desc = rng.random() < 0.5
    word = adj[0] if desc else adj[1]
    k = rng.choice([1, 1, 2, 3, 5])
    if k == 1:
        who = ["Who is the {w} {s}?"] if t.label.pool == PEOPLE else []
        q = _pick(rng, who + ["Which {s} is the {w}?", "The {w} {s}?", "{W} {s}?", "What is the {l} of the {w} {s}?",
                              "Show the {w} {s}."], w=word, W=word.capitalize(), s=sname(t, rng), l=t.label.phrase)
    else:
        q = _pick(rng, ["The {k} {w} {t}", "Show the {k} {w} {t}.", "Which are the {k} {w} {t}?", "List the {k} {w} {t}.",
                        "{k} {w} {t}?"], k=_num_word(k, rng), w=word, t=tname(t, rng))
    return q, {"from": t.name, "select": [t.label.name], "order_by": [c.name, "DESC" if desc else "ASC"], "limit": k}


def filter_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """"players older than 30", "books with more than 300 pages", "Products with a price under 20"."""
    t = base._pick_table(s, rng)
    c = rng.choice(t.of("num"))
    op = rng.choice([">", "<", ">=", "<="])
    x = _threshold(db, t, c, rng)
    adj = adjectives(c)
    options = [f"{{t}} with {{c}} {base._op_phrase(op, x, rng)}", f"{{t}} with a {{c}} {base._op_phrase(op, x, rng)}",
               f"{{t}} whose {{c}} is {base._op_phrase(op, x, rng)}"]
    if op in (">", "<"):
        options.append(f"{{t}} with {'more' if op == '>' else 'fewer'} than {x} {{c}}")
        if adj:
            options += [f"{{t}} {adj[2] if op == '>' else adj[3]} {x}"] * 2
            if t.label.pool == PEOPLE and _only_table_with(s, t, c):
                options.append(f"Who is {adj[2] if op == '>' else adj[3]} {x}?")
    q = _pick(rng, options, t=tname(t, rng), c=c.phrase)
    q = _fragment(q, rng)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, op, str(x)]], "terse": True}


def _fragment(q: str, rng: random.Random, *values: str) -> str:
    """Fragments come lower-case, capitalised, or with a question mark; one that opens with a value
    keeps the value's case (the grammar's word slot takes the value as the question writes it)."""
    r = rng.random()
    keep = any(q.startswith(v) or q.startswith(f"'{v}") for v in values)
    cap = q if keep else base._cap(q)
    if r < 0.35:
        return q
    if r < 0.7:
        return cap
    return cap + ("" if q.endswith("?") else "?")


def between_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    c = rng.choice(t.of("num"))
    vals = sorted(_values(db, t, c))
    i = rng.randint(1, len(vals) - 5)
    a, b = vals[i], vals[i + rng.randint(2, 3)]
    q = _pick(rng, ["{t} with {c} between {a} and {b}", "{t} with {a} to {b} {c}", "{t} with between {a} and {b} {c}",
                    "Show {t} between {a} and {b} {c}.", "Which {t} have {a} to {b} {c}?"], t=tname(t, rng), c=c.phrase, a=a, b=b)
    return _fragment(q, rng), {"from": t.name, "select": [t.label.name], "where": [[c.name, "BETWEEN", f"{a} AND {b}"]], "terse": True}


def like_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    lab = t.label
    value = rng.choice(_values(db, t, lab))
    if rng.random() < 0.6:
        frag = value[: rng.choice([1, 2])]
        pattern = f"{frag}%"
        who = ["Whose {l} starts with {f}?", "Who has a {l} starting with {f}?"] if lab.pool == PEOPLE and "name" in lab.name else []
        q = _pick(rng, who + ["{t} starting with {f}", "{t} whose {l} starts with {f}", "{t} beginning with {f}",
                              "Any {t} starting with {f}?"], t=tname(t, rng), l=lab.phrase, f=frag)
    else:
        word = value.split()[-1] if " " in value and rng.random() < 0.5 else value[1:4]
        pattern = f"%{word}%"
        q = _pick(rng, ["{t} with {f} in the {l}", "{t} with {f} in their {l}", "{t} whose {l} contains {f}",
                        "Which {t} have {f} in the {l}?"], t=tname(t, rng), l=lab.phrase, f=word)
    return _fragment(q, rng), {"from": t.name, "select": [lab.name], "where": [[lab.name, "LIKE", f"'{pattern}'"]], "terse": True}


def distinct_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    words = c.phrase.split()
    cs = " ".join(words[:-1] + [plural(words[-1])])
    q = _pick(rng, ["Which {cs} are there?", "What {cs} do we have?", "List each {c} once.", "What {cs} are there among the {t}?",
                    "All the different {cs}", "Which {cs} appear in {t}?", "{cs} of the {t}, each once"],
              cs=cs, c=c.phrase, t=tname(t, rng))
    return _fragment(q, rng), {"from": t.name, "select": [c.name], "distinct": True, "terse": True}


def in_value(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """Two values without their column: "students from Paris or Rome", "How many dishes are main or side?"."""
    from sql_asks import is_place  # noqa: PLC0415 - sql_asks imports this module

    t = base._pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    a, b = rng.sample(sorted(set(_values(db, t, c))), 2)
    va, vb = _q(a, rng), _q(b, rng)
    where = [[c.name, "IN", f"('{a}', '{b}')"]]
    words = rng.choice([f"{{t}} from {va} or {vb}", f"{{t}} in {va} or {vb}"] if is_place(c) else
                       [f"{{t}} that are {va} or {vb}", f"{va} or {vb} {{t}}", f"{{t}} marked {va} or {vb}"])
    if rng.random() < 0.35:
        q = _pick(rng, ["How many " + words + "?", "Number of " + words + "?", "Count the " + words + "."], t=tname(t, rng))
        return q, {"from": t.name, "select": ["COUNT(*)"], "where": where, "value_tables": [t.name], "terse": True}
    q = _pick(rng, ["Which " + words + "?", "Show the " + words + ".", words + "?", "List the " + words + "."], t=tname(t, rng))
    return q, {"from": t.name, "select": [t.label.name], "where": where, "value_tables": [t.name], "terse": True}


def having_plural(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan] | None:
    """"Which genres have more than 2 books?", "cities with at least 3 students"."""
    t = base._pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    vals = _values(db, t, c)
    counts = sorted({vals.count(v) for v in set(vals)})
    if len(counts) < 2:
        return None
    op = rng.choice([">", ">="])
    k = counts[0] if op == ">" else counts[-1]
    words = c.phrase.split()
    cs = " ".join(words[:-1] + [plural(words[-1])])
    phrase = f"more than {_num_word(k, rng)}" if op == ">" else rng.choice([f"at least {_num_word(k, rng)}", f"{k} or more"])
    q = _pick(rng, ["Which {cs} have {p} {t}?", "{cs} with {p} {t}", "{CS} that have {p} {t}?", "List the {cs} with {p} {t}."],
              cs=cs, CS=base._cap(cs), p=phrase, t=tname(t, rng))
    return _fragment(q, rng), {"from": t.name, "select": [c.name], "group_by": c.name, "having": ["COUNT(*)", op, str(k)], "terse": True}


def two_value(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """A value without its column and a number: "Paris students older than 12", "main dishes under 20"."""
    from sql_asks import _value_words  # noqa: PLC0415 - sql_asks imports this module

    t = base._pick_table(s, rng)
    c, n = rng.choice(t.of("cat")), rng.choice(t.of("num"))
    v = rng.choice(_values(db, t, c))
    op = rng.choice([">", "<"])
    x = _threshold(db, t, n, rng)
    adj = adjectives(n)
    cmp = (adj[2] if op == ">" else adj[3]) if adj and rng.random() < 0.6 else f"with a {n.phrase} {base._op_phrase(op, x, rng)}"
    cmp = cmp if cmp.startswith("with") else f"{cmp} {x}"
    words = _value_words(c, _q(v, rng), tname(t, rng), rng)
    which = f"Which {{w}} have {cmp[5:]}?" if cmp.startswith("with ") else "Which {w} are {m}?"
    q = _pick(rng, [which, "List the {w} {m}.", "{w} {m}", "Show {w} {m}."], w=words, m=cmp)
    plan = {"from": t.name, "select": [t.label.name], "where": [[c.name, "=", _lit(v)], [n.name, op, str(x)]], "value_tables": [t.name]}
    return _fragment(q, rng, v), {**plan, "terse": True}


def aggregate_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """One number over the whole table: "Highest price?", "What's the average age?"."""
    from sql_asks import AGG_WORD  # noqa: PLC0415 - sql_asks imports this module

    t = base._pick_table(s, rng)
    n, fn = rng.choice(t.of("num")), rng.choice(list(AGG_WORD))
    a = rng.choice(AGG_WORD[fn])
    q = _pick(rng, ["{a} {n}?", "What is the {al} {n}?", "What's the {al} {n} of the {t}?", "{a} {n} of all {t}", "{a} {s} {n}?"],
              a=a, al=a.lower(), n=n.phrase, t=tname(t, rng), s=sname(t, rng))
    return _fragment(q, rng), {"from": t.name, "select": [f"{fn}({n.name})"], "terse": True}


def join_verb(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """A parent's value with a verb instead of "of": "Which books does Ana Lee have?", "players with a team in Oslo"."""
    from sql_asks import _cat_value, is_place  # noqa: PLC0415 - sql_asks imports this module

    ch, pa = s.child, s.parent
    ct, ps = tname(ch, rng), sname(pa, rng)
    count = rng.random() < 0.3
    if rng.random() < 0.6:
        col = pa.label
        raw = rng.choice(_values(db, pa, col))
        v = _q(raw, rng)
        options = ["How many {ct} does {v} have?", "How many {ct} has {v} got?"] if count else [
            "Which {ct} does {v} have?", "What {ct} does {v} have?", "Does {v} have any {ct}? Which ones?", "Which {ct} go with {v}?"]
    else:
        col, raw = _cat_value(db, pa, rng)
        v = _q(raw, rng)
        where = f"in {v}" if is_place(col) else f"that is {v}"
        options = [f"How many {{ct}} have a {{ps}} {where}?"] if count else [
            f"Which {{ct}} have a {{ps}} {where}?", f"{{ct}} whose {{ps}} is {where.removeprefix('that is ')}", f"Show the {{ct}} with a {{ps}} {where}."]
    q = _pick(rng, options, ct=ct, v=v, ps=ps)
    select = ["COUNT(*)"] if count else [f"{ch.name}.{ch.label.name}"]
    return q, {"from": ch.name, "join": base._join(s), "select": select, "where": [[f"{pa.name}.{col.name}", "=", _lit(raw)]],
               "value_tables": [pa.name]}


def lookup_how(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """One number of one row, asked "how many/much": "How many goals does Ana Lee have?"."""
    t = base._pick_table(s, rng)
    raw = rng.choice(_values(db, t, t.label))
    c = rng.choice(t.of("num"))
    many = ["How many {c} does {v} have?", "How many {c} has {v} got?"] if c.name.endswith("s") else [
        "How much {c} does {v} have?", "How high is the {c} of {v}?", "How much is the {c} of {v}?"]
    q = _pick(rng, many, c=c.phrase, v=_q(raw, rng))
    return q, {"from": t.name, "select": [c.name], "where": [[t.label.name, "=", _lit(raw)]], "value_tables": [t.name]}


EVERYDAY = (superlative, filter_terse, between_terse, like_terse, distinct_terse, in_value, having_plural, two_value, aggregate_terse,
            join_verb, lookup_how)
CATEGORY = {"superlative": "edge", "filter_terse": "basic", "between_terse": "edge", "like_terse": "edge", "distinct_terse": "edge",
            "in_value": "edge", "having_plural": "hard", "two_value": "edge", "aggregate_terse": "basic",
            "join_verb": "hard", "lookup_how": "basic"}
