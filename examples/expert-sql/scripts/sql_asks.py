"""How people ask: shapes added to sql_shapes.SHAPES for the ways real questions differ from the templates there.

A value named without its column ("members from Lyon", "what does Ana Lee teach"), a single
value looked up by name, "how much ... in total" (a SUM, not a COUNT), terse fragments
("Average price per category?", "orders over 50"), who/which/what questions and imperatives,
and joins only when the question needs the other table (it names it, or one of its values).
A question that names a value (or a column) of a table without the table's name records it in
``value_tables``: for the reasoning's "Mentioned?" that table is named. `SHAPES`/`CATEGORY` here are the full registry the scripts use.
"""

from __future__ import annotations

import random
import re

try:  # imported as a sibling module by the scripts and as a package module by the tests
    import sql_everyday as everyday
    import sql_shapes as base
    from sql_schemas import PEOPLE, PLACE_WORDS, Column, Database, Schema, Table
except ImportError:  # pragma: no cover
    from . import sql_everyday as everyday
    from . import sql_shapes as base
    from .sql_schemas import PEOPLE, PLACE_WORDS, Column, Database, Schema, Table

Plan = base.Plan
_pick, _q, _lit, _values, _threshold = base._pick, base._q, base._lit, base._values, base._threshold
tname, sname = base.tname, base.sname
AGG_WORD = {"AVG": ["Average", "Mean", "Avg"], "SUM": ["Total", "Sum of"], "MIN": ["Lowest", "Minimum", "Smallest"],
            "MAX": ["Highest", "Maximum", "Largest"]}


def is_place(c: Column) -> bool:
    return any(w in c.name for w in PLACE_WORDS)


_OPENERS = {"which", "list", "show", "give", "how", "number", "count", "total", "what", "what's", "tell", "who", "sum", "add",
            "the", "top", "bottom", "average", "mean", "avg", "highest", "maximum", "largest", "lowest", "minimum", "smallest"}


def _terse(q: str, rng: random.Random) -> tuple[str, bool]:
    """The question as people type it, sometimes a fragment (lower-case, no final stop). A question that
    opens with a value keeps the value's case ("forward players?" must still say 'forward'); the
    returned flag tells make_example to leave the text as it is."""
    if q.split()[0].lower() not in _OPENERS:
        return q, True
    if rng.random() < 0.3:
        return q[0].lower() + q[1:].rstrip(".?"), True
    return q[0].upper() + q[1:], True


def _cat_value(db: Database, t: Table, rng: random.Random) -> tuple[Column, str]:
    c = rng.choice(t.of("cat"))
    return c, rng.choice(_values(db, t, c))


def _value_words(c: Column, v: str, t: str, rng: random.Random) -> str:
    """``{t}`` qualified by a value without its column: "members from Lyon", "drink items", "items that are drink"."""
    if is_place(c):
        return rng.choice([f"{t} from {v}", f"{t} in {v}", f"{t} based in {v}"])
    return rng.choice([f"{v} {t}", f"{t} that are {v}", f"{t} marked {v}", f"{t} of type {v}"])


def filter_value(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    c, v = _cat_value(db, t, rng)
    words = _value_words(c, _q(v, rng), tname(t, rng), rng)
    who = ["Who are the {w}?"] if t.label.pool == PEOPLE else []
    q = _pick(rng, ["Which {w}?", "List the {w}.", "Show me the {w}.", "{w}?", "Give me all {w}."] + who, w=words)
    q, terse = _terse(q, rng)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, "=", _lit(v)]], "value_tables": [t.name], "terse": terse}


def lookup(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    v = rng.choice(_values(db, t, t.label))
    c = rng.choice(t.of("num") + t.of("cat"))
    q = _pick(rng, ["What is the {c} of {v}?", "What {c} does {v} have?", "{v}'s {c}?", "Give me the {c} for {v}.",
                    "Tell me the {c} of {v}.", "{c} of {v}?"], c=c.phrase, v=_q(v, rng))
    q, terse = _terse(q, rng)
    return q, {"from": t.name, "select": [c.name], "where": [[t.label.name, "=", _lit(v)]], "value_tables": [t.name], "terse": terse}


def count_value(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    c, v = _cat_value(db, t, rng)
    words = _value_words(c, _q(v, rng), tname(t, rng), rng)
    q = _pick(rng, ["How many {w} are there?", "Number of {w}?", "Count the {w}.", "How many {w}?"], w=words)
    q, terse = _terse(q, rng)
    return q, {"from": t.name, "select": ["COUNT(*)"], "where": [[c.name, "=", _lit(v)]], "value_tables": [t.name], "terse": terse}


def sum_total(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """"How much ... in total": a SUM, over all rows or the rows of one value."""
    t = base._pick_table(s, rng)
    n = rng.choice(t.of("num"))
    tn = tname(t, rng)
    if rng.random() < 0.5:
        q = _pick(rng, ["How much {n} do the {t} have in total?", "Total {n} of all {t}?", "What is the total {n}?",
                        "How much {n} is there altogether?", "Sum up the {n} of the {t}."], n=n.phrase, t=tn)
        plan: Plan = {"from": t.name, "select": [f"SUM({n.name})"]}
    else:
        c, v = _cat_value(db, t, rng)
        words = _value_words(c, _q(v, rng), tn, rng)
        q = _pick(rng, ["How much {n} do {w} have in total?", "Total {n} of the {w}?", "What is the total {n} of {w}?",
                        "Add up the {n} of {w}."], n=n.phrase, w=words)
        plan = {"from": t.name, "select": [f"SUM({n.name})"], "where": [[c.name, "=", _lit(v)]], "value_tables": [t.name]}
    q, plan["terse"] = _terse(q, rng)
    return q, plan


def group_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    if rng.random() < 0.3:
        q = _pick(rng, ["Number of {t} per {c}?", "{t} per {c}?", "How many {t} in each {c}?", "Count of {t} by {c}"],
                  t=tname(t, rng), c=c.phrase)
        item = "COUNT(*)"
    else:
        n, fn = rng.choice(t.of("num")), rng.choice(list(AGG_WORD))
        q = _pick(rng, ["{a} {n} per {c}?", "{a} {n} by {c}", "{a} {n} for each {c}?", "What's the {al} {n} per {c}?"],
                  a=rng.choice(AGG_WORD[fn]), al=rng.choice(AGG_WORD[fn]).lower(), n=n.phrase, c=c.phrase)
        item = f"{fn}({n.name})"
    q, terse = _terse(q, rng)
    return q, {"from": t.name, "select": [c.name, item], "group_by": c.name, "terse": terse}


def having_avg(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = s.child
    c, n = rng.choice(t.of("cat")), rng.choice(t.of("num"))
    groups: dict[str, list[int]] = {}
    for row in db.rows[t.name]:
        groups.setdefault(row[c.name], []).append(row[n.name])
    means = sorted(sum(v) / len(v) for v in groups.values())
    x = int((means[0] + means[-1]) / 2)
    op, word = rng.choice([(">", "above"), (">", "over"), ("<", "below"), ("<", "under")])
    q = _pick(rng, ["Which {c} values have an average {n} {w} {x}?", "{c}s with an average {n} {w} {x}?",
                    "List every {c} whose {t} average a {n} {w} {x}."], c=c.phrase, n=n.phrase, w=word, x=x, t=tname(t, rng))
    q, terse = _terse(q, rng)
    return q, {"from": t.name, "select": [c.name], "group_by": c.name, "having": [f"AVG({n.name})", op, str(x)], "terse": terse}


def top_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = base._pick_table(s, rng)
    c = rng.choice(t.of("num"))
    desc = rng.random() < 0.5
    k = rng.choice([1, 1, 2, 3, 5])
    most = rng.choice(["highest", "most", "biggest", "top"] if desc else ["lowest", "least", "smallest"])
    if k == 1:
        who = ["Who has the {m} {c}?"] if t.label.pool == PEOPLE else []
        q = _pick(rng, who + ["Which {s} has the {m} {c}?", "{s} with the {m} {c}?", "The {s} with the {m} {c}?"],
                  m=most, c=c.phrase, s=sname(t, rng))
    else:
        q = _pick(rng, ["Top {k} {t} by {c}", "The {k} {t} with the {m} {c}?", "Which {k} {t} have the {m} {c}?"],
                  k=k, t=tname(t, rng), m=most, c=c.phrase)
        if q.startswith("Top") and not desc:
            q = q.replace("Top", "Bottom", 1)
    q, terse = _terse(q, rng)
    return q, {"from": t.name, "select": [t.label.name], "order_by": [c.name, "DESC" if desc else "ASC"], "limit": k, "terse": terse}


def join_value(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    """Children of one parent named by its value ("which books does Ana Lee have"), listed or counted."""
    ch, pa = s.child, s.parent
    ct = tname(ch, rng)
    if rng.random() < 0.6:
        col = pa.label
        raw = rng.choice(_values(db, pa, col))
        v = _q(raw, rng)
        words = rng.choice([f"{ct} of {v}", f"{ct} that belong to {v}", f"{v}'s {ct}", f"{ct} linked to {v}", f"{ct} for {v}"])
    else:
        col, raw = _cat_value(db, pa, rng)
        v, ps = _q(raw, rng), sname(pa, rng)
        phrase = f"from {v}" if is_place(col) else f"of type {v}"
        words = rng.choice([f"{ct} whose {ps} is {phrase}", f"{ct} with a {ps} {phrase}", f"{ct} of {v} {tname(pa, rng)}"])
    cond = [f"{pa.name}.{col.name}", "=", _lit(raw)]
    if rng.random() < 0.3:
        q = _pick(rng, ["How many {w} are there?", "Number of {w}?", "Count the {w}."], w=words)
        select = ["COUNT(*)"]
    else:
        q = _pick(rng, ["Which {w}?", "List the {w}.", "Show the {w}.", "{w}?", "What are the {w}?"], w=words)
        select = [f"{ch.name}.{ch.label.name}"]
    q, terse = _terse(q, rng)
    return q, {"from": ch.name, "join": base._join(s), "select": select, "where": [cond], "value_tables": [pa.name], "terse": terse}


def join_terse(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    ch, pa = s.child, s.parent
    key = f"{pa.name}.{pa.label.name}"
    if rng.random() < 0.4:
        q = _pick(rng, ["Number of {ct} per {ps}?", "{ct} per {ps}?", "How many {ct} does each {ps} have?", "Count {ct} by {ps}"],
                  ct=tname(ch, rng), ps=sname(pa, rng))
        item = "COUNT(*)"
    else:
        n, fn = rng.choice(ch.of("num")), rng.choice(list(AGG_WORD))
        q = _pick(rng, ["{a} {n} of {ct} per {ps}?", "{a} {n} per {ps}", "What's the {al} {n} of the {ct} for each {ps}?"],
                  a=rng.choice(AGG_WORD[fn]), al=rng.choice(AGG_WORD[fn]).lower(), n=n.phrase, ct=tname(ch, rng), ps=sname(pa, rng))
        item = f"{fn}({ch.name}.{n.name})"
    q, terse = _terse(q, rng)
    return q, {"from": ch.name, "join": base._join(s), "select": [key, item], "group_by": key, "value_tables": [ch.name], "terse": terse}


ASKS = (filter_value, lookup, count_value, sum_total, group_terse, having_avg, top_terse, join_value, join_terse)
SHAPES = {**base.SHAPES, **{f.__name__: f for f in ASKS + everyday.EVERYDAY}}
CATEGORY = {  # test-case category of each shape
    "select_columns": "basic", "select_all": "basic", "filter_text": "basic", "filter_number": "basic",
    "count_all": "basic", "aggregate": "basic", "order_by": "basic", "filter_value": "basic", "lookup": "basic",
    "between": "edge", "like": "edge", "in_list": "edge", "distinct": "edge", "top_n": "edge", "top_terse": "edge",
    "count_where": "edge", "aggregate_where": "edge", "two_conditions": "edge", "count_value": "edge", "sum_total": "edge",
    "group_count": "hard", "group_aggregate": "hard", "having": "hard", "group_terse": "hard", "having_avg": "hard",
    "join_select": "hard", "join_filter": "hard", "join_group": "hard", "join_value": "hard", "join_terse": "hard",
} | everyday.CATEGORY
assert set(SHAPES) == set(CATEGORY)


def mentions(question: str, s: Schema, value_tables: tuple[str, ...] = ()) -> list[list]:
    """``[singular, named?]`` per table, in schema order: does the question name it (singular or plural,
    whole or its last word: "members" names club_members) or one of its values (``value_tables``)."""
    text = question.lower()
    words = set(re.findall(r"[a-z_]+", text.replace("_", " "))) | set(re.findall(r"[a-z_]+", text))

    def named(t: Table) -> bool:
        return bool({t.singular, t.name, t.singular.split("_")[-1], t.name.split("_")[-1]} & words) or t.name in value_tables

    return [[t.singular, named(t)] for t in s.tables]


def make_example(shape: str, s: Schema, db: Database, rng: random.Random) -> dict | None:
    """One raw example: question, schema context, SQL, reasoning, plus the plan it came from.
    None when the question names both tables without a join (or the reverse): the reasoning's
    "both named means join" would be false for it, so the caller draws another; None too when the
    shape does not fit the schema (no column that "youngest" could mean)."""
    made = SHAPES[shape](s, db, rng)
    if made is None:
        return None
    question, plan = made
    terse = plan.pop("terse", False)
    plan["mentions"] = mentions(question, s, tuple(plan.pop("value_tables", ())))
    if all(hit for _, hit in plan["mentions"]) != bool(plan.get("join")):
        return None
    return {
        "instruction": question if terse else base._cap(question),
        "input": s.system(),
        "output": base.build_sql(plan),
        "reasoning": base.reasoning_from_plan(plan),
        "schema": s.name,
        "shape": shape,
        "plan": plan,
    }
