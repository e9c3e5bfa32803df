"""SQL shapes: each turns a schema and its rows into (question, plan); the plan gives the SQL and the reasoning.

A *plan* is a small dict describing the query (tables, join, selected items, conditions,
grouping, order, limit). `build_sql(plan)` renders the canonical SQL (single spaces, upper-case
keywords, `;` at the end: exactly what grammar.gbnf accepts) and `reasoning_from_plan(plan)`
renders the brief reasoning used in `<think>` blocks, so the reasoning always describes the
very query it precedes. Questions are paraphrased: every shape has several phrasings, picked
at random with the caller's seeded `random.Random`, and the wording of operators varies too.
"""

from __future__ import annotations

import random
from typing import Any

try:  # imported as a sibling module by the scripts and as a package module by the tests
    from sql_schemas import Column, Database, Schema, Table
except ImportError:  # pragma: no cover
    from .sql_schemas import Column, Database, Schema, Table

Plan = dict[str, Any]

# ---------------------------------------------------------------- plan -> SQL / reasoning

def _cond_sql(cond: list[str]) -> str:
    col, op, value = cond
    return f"{col} {op} {value}"


def build_sql(plan: Plan) -> str:
    """The canonical SQL text of a plan."""
    sql = "SELECT " + ("DISTINCT " if plan.get("distinct") else "") + ", ".join(plan["select"]) + f" FROM {plan['from']}"
    if plan.get("join"):
        j = plan["join"]
        sql += f" JOIN {j['table']} ON {j['on'][0]} = {j['on'][1]}"
    if plan.get("where"):
        sql += " WHERE " + " AND ".join(_cond_sql(c) for c in plan["where"])
    if plan.get("group_by"):
        sql += f" GROUP BY {plan['group_by']}"
    if plan.get("having"):
        sql += " HAVING " + _cond_sql(plan["having"])
    if plan.get("order_by"):
        sql += f" ORDER BY {plan['order_by'][0]} {plan['order_by'][1]}"
    if plan.get("limit"):
        sql += f" LIMIT {plan['limit']}"
    return sql + ";"


def reasoning_from_plan(plan: Plan) -> str:
    """Brief reasoning derived from the plan: which tables the question names, the table or join
    that follows, and the columns returned.

    It opens with the tables the question names (``Mentioned? keeper: yes, animal: no.``): each
    flag is a lookup of one word in the question, which a small model learns quickly, and "both
    named" is exactly when the query joins. Asked cold, "join or not" stayed near its base rate
    after a 75-step run (P(join | join question) ~0.2-0.4, measured). A table also counts as named
    when the question names one of its values ("which books does Ana Lee have" names the author).
    The filter is restated (``Filter city = 'Lyon'.``): a question that names a value without its
    column ("from Lyon") needs the column chosen first; grouping and order are not, the SQL says them."""
    parts = []
    if plan.get("mentions"):
        parts.append("Mentioned? " + ", ".join(f"{word}: {'yes' if hit else 'no'}" for word, hit in plan["mentions"]) + ".")
    if plan.get("join"):
        j = plan["join"]
        parts.append(f"Join {plan['from']} and {j['table']} on {j['on'][0]} = {j['on'][1]}.")
    else:
        parts.append(f"Table: {plan['from']}.")
    if plan.get("where"):  # the column and value chosen, said before the SQL commits to them
        parts.append("Filter " + " AND ".join(_cond_sql(c) for c in plan["where"]) + ".")
    parts.append("Return " + ("distinct " if plan.get("distinct") else "") + ", ".join(plan["select"]) + ".")
    return " ".join(parts)


# ---------------------------------------------------------------- helpers

def _q(value: str, rng: random.Random) -> str:
    """A text value as the question shows it: sometimes quoted, sometimes bare."""
    return f"'{value}'" if rng.random() < 0.5 else value


def _lit(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _pick_table(s: Schema, rng: random.Random) -> Table:
    return s.child if rng.random() < 0.65 else s.parent


def _values(db: Database, t: Table, c: Column) -> list:
    return [r[c.name] for r in db.rows[t.name]]


def _threshold(db: Database, t: Table, c: Column, rng: random.Random) -> int:
    """A number strictly between two stored values, so `>`/`<` keep some rows and drop others."""
    vals = sorted(_values(db, t, c))
    i = rng.randint(2, len(vals) - 3)
    lo, hi = vals[i], vals[i + 1]
    return rng.randint(lo, hi - 1) if hi - lo > 1 else lo


def _pick(rng: random.Random, options: list[str], **slots: Any) -> str:
    return rng.choice(options).format(**slots)


def tname(t: Table, rng: random.Random) -> str:
    """How a question names a table: club_members as "club members" or just "members"."""
    return t.name if "_" not in t.name else rng.choice([t.name.replace("_", " "), t.name.split("_")[-1]])


def sname(t: Table, rng: random.Random) -> str:
    return t.singular if "_" not in t.singular else rng.choice([t.singular.replace("_", " "), t.singular.split("_")[-1]])


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


OPS = {
    ">": ["greater than {x}", "more than {x}", "above {x}", "over {x}", "higher than {x}"],
    "<": ["less than {x}", "below {x}", "under {x}", "lower than {x}", "smaller than {x}"],
    ">=": ["at least {x}", "{x} or more", "greater than or equal to {x}"],
    "<=": ["at most {x}", "{x} or less", "no more than {x}", "less than or equal to {x}"],
}
AGG = {
    "AVG": ["average", "mean"], "SUM": ["total", "sum of the"], "MIN": ["lowest", "smallest", "minimum"],
    "MAX": ["highest", "largest", "maximum"],
}


def _op_phrase(op: str, x: int, rng: random.Random) -> str:
    return rng.choice(OPS[op]).format(x=x)


# ---------------------------------------------------------------- single-table shapes

def select_columns(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    extra = rng.sample(t.of("num") + t.of("cat"), rng.choice([1, 1, 2]))
    cols = [t.label] + extra
    names = [c.phrase for c in cols]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    q = _pick(rng, ["List the {c} of every {s}.", "Show each {s}'s {c}.", "What are the {c} of all {t}?",
                    "Give me the {c} for all {t}.", "Display the {c} of the {t}.", "Return {c} for every {s}."],
              c=listed, s=sname(t, rng), t=tname(t, rng))
    return q, {"from": t.name, "select": [c.name for c in cols]}


def select_all(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    q = _pick(rng, ["Show all {t}.", "List every {s} with all columns.", "Get all rows from the {t} table.",
                    "Display everything about the {t}.", "Show me all the {t} data."], t=tname(t, rng), s=sname(t, rng))
    return q, {"from": t.name, "select": ["*"]}


def filter_text(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    v = rng.choice(_values(db, t, c))
    q = _pick(rng, ["Which {t} have {c} {v}? Give their {l}.", "List the {l} of {t} whose {c} is {v}.",
                    "Find the {l} of every {s} with {c} equal to {v}.", "Show the {l} of the {t} where {c} = {v}.",
                    "What is the {l} of each {s} whose {c} is {v}?"],
              t=tname(t, rng), s=sname(t, rng), c=c.phrase, v=_q(v, rng), l=t.label.phrase)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, "=", _lit(v)]]}


def filter_number(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("num"))
    op = rng.choice([">", "<", ">=", "<="])
    x = _threshold(db, t, c, rng)
    q = _pick(rng, ["Which {t} have a {c} {o}? Show their {l}.", "List the {l} of {t} with {c} {o}.",
                    "Find {t} whose {c} is {o}; return the {l}.", "Give the {l} of every {s} with a {c} {o}.",
                    "Show the {l} of {t} where the {c} is {o}."],
              t=tname(t, rng), s=sname(t, rng), c=c.phrase, o=_op_phrase(op, x, rng), l=t.label.phrase)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, op, str(x)]]}


def between(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("num"))
    vals = sorted(_values(db, t, c))
    i = rng.randint(1, len(vals) - 5)
    a, b = vals[i], vals[i + rng.randint(2, 3)]
    q = _pick(rng, ["List the {l} of {t} with {c} between {a} and {b}.", "Which {t} have a {c} from {a} to {b}? Give the {l}.",
                    "Find {t} whose {c} lies between {a} and {b} inclusive; show the {l}.",
                    "Show the {l} of every {s} with a {c} in the range {a} to {b}."],
              t=tname(t, rng), s=sname(t, rng), c=c.phrase, a=a, b=b, l=t.label.phrase)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, "BETWEEN", f"{a} AND {b}"]]}


def like(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    lab = t.label
    value = rng.choice(_values(db, t, lab))
    mode = rng.choice(["start", "start", "end", "contain"])
    if mode == "start":
        frag = value[: rng.choice([1, 1, 2])]
        pattern = f"{frag}%"
        q = _pick(rng, ["Which {t} have a {l} starting with {f}?", "List {t} whose {l} begins with {f}.",
                        "Find the {l} of {t} that start with {f}.", "Show every {s} {l} beginning with {f}."],
                  t=tname(t, rng), s=sname(t, rng), l=lab.phrase, f=f"'{frag}'" if rng.random() < 0.6 else f'the letter {frag}' if len(frag) == 1 else frag)
    elif mode == "end":
        frag = value[-2:]
        pattern = f"%{frag}"
        q = _pick(rng, ["Which {t} have a {l} ending with '{f}'?", "List {t} whose {l} ends in '{f}'.",
                        "Find the {l} of {t} that end with '{f}'."], t=tname(t, rng), l=lab.phrase, f=frag)
    else:
        start = rng.randint(1, max(1, len(value) - 3))
        frag = value[start:start + 3]
        pattern = f"%{frag}%"
        q = _pick(rng, ["Which {t} have '{f}' in their {l}?", "List {t} whose {l} contains '{f}'.",
                        "Find the {l} of {t} containing '{f}'."], t=tname(t, rng), l=lab.phrase, f=frag)
    return q, {"from": t.name, "select": [lab.name], "where": [[lab.name, "LIKE", f"'{pattern}'"]]}


def in_list(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    a, b = rng.sample(sorted(set(_values(db, t, c))), 2)
    q = _pick(rng, ["List the {l} of {t} whose {c} is {a} or {b}.", "Which {t} have a {c} of either {a} or {b}? Show the {l}.",
                    "Find the {l} of {t} with {c} in ({a}, {b}).", "Show the {l} of every {s} whose {c} is one of {a}, {b}."],
              t=tname(t, rng), s=sname(t, rng), c=c.phrase, a=_q(a, rng), b=_q(b, rng), l=t.label.phrase)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, "IN", f"('{a}', '{b}')"]]}


def two_conditions(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c, n = rng.choice(t.of("cat")), rng.choice(t.of("num"))
    v = rng.choice(_values(db, t, c))
    op = rng.choice([">", "<"])
    x = _threshold(db, t, n, rng)
    q = _pick(rng, ["Which {t} with {c} {v} have a {n} {o}? Give the {l}.", "List the {l} of {t} where {c} is {v} and {n} is {o}.",
                    "Find {t} whose {c} is {v} and whose {n} is {o}; show the {l}.",
                    "Show the {l} of every {s} with {c} {v} and a {n} {o}."],
              t=tname(t, rng), s=sname(t, rng), c=c.phrase, v=_q(v, rng), n=n.phrase, o=_op_phrase(op, x, rng), l=t.label.phrase)
    return q, {"from": t.name, "select": [t.label.name], "where": [[c.name, "=", _lit(v)], [n.name, op, str(x)]]}


def count_all(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    q = _pick(rng, ["How many {t} are there?", "Count the {t}.", "What is the total number of {t}?",
                    "How many rows does the {t} table have?", "Give the number of {t}."], t=tname(t, rng))
    return q, {"from": t.name, "select": ["COUNT(*)"]}


def count_where(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    if rng.random() < 0.5:
        c = rng.choice(t.of("cat"))
        v = rng.choice(_values(db, t, c))
        cond, words = [c.name, "=", _lit(v)], f"{c.phrase} {_q(v, rng)}"
        q = _pick(rng, ["How many {t} have {w}?", "Count the {t} with {w}.", "What is the number of {t} with {w}?"], t=tname(t, rng), w=words)
    else:
        c = rng.choice(t.of("num"))
        op = rng.choice([">", "<", ">=", "<="])
        x = _threshold(db, t, c, rng)
        cond = [c.name, op, str(x)]
        q = _pick(rng, ["How many {t} have a {c} {o}?", "Count the {t} whose {c} is {o}.", "What is the number of {t} with {c} {o}?"],
                  t=tname(t, rng), c=c.phrase, o=_op_phrase(op, x, rng))
    return q, {"from": t.name, "select": ["COUNT(*)"], "where": [cond]}


def aggregate(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("num"))
    fn = rng.choice(list(AGG))
    q = _pick(rng, ["What is the {a} {c} of all {t}?", "Find the {a} {c} across the {t}.", "Give the {a} {c} of the {t}.",
                    "Compute the {a} {c} over every {s}."], a=rng.choice(AGG[fn]), c=c.phrase, t=tname(t, rng), s=sname(t, rng))
    return q, {"from": t.name, "select": [f"{fn}({c.name})"]}


def aggregate_where(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    n, c = rng.choice(t.of("num")), rng.choice(t.of("cat"))
    v = rng.choice(_values(db, t, c))
    fn = rng.choice(list(AGG))
    q = _pick(rng, ["What is the {a} {n} of {t} with {c} {v}?", "Find the {a} {n} among {t} whose {c} is {v}.",
                    "For {t} where {c} is {v}, give the {a} {n}."],
              a=rng.choice(AGG[fn]), n=n.phrase, t=tname(t, rng), c=c.phrase, v=_q(v, rng))
    return q, {"from": t.name, "select": [f"{fn}({n.name})"], "where": [[c.name, "=", _lit(v)]]}


def order_by(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("num"))
    desc = rng.random() < 0.5
    way = rng.choice(["from highest to lowest", "in descending order", "largest first"] if desc
                     else ["from lowest to highest", "in ascending order", "smallest first"])
    q = _pick(rng, ["List the {l} of all {t} sorted by {c} {w}.", "Show the {t} ordered by {c} {w}; give the {l}.",
                    "Sort the {t} by {c} {w} and return their {l}."], l=t.label.phrase, t=tname(t, rng), c=c.phrase, w=way)
    return q, {"from": t.name, "select": [t.label.name], "order_by": [c.name, "DESC" if desc else "ASC"]}


def top_n(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("num"))
    desc = rng.random() < 0.5
    k = rng.choice([1, 2, 3, 3, 5])
    most, least = rng.choice(["highest", "largest", "biggest"]), rng.choice(["lowest", "smallest"])
    word = most if desc else least
    if k == 1:
        q = _pick(rng, ["Which {s} has the {w} {c}?", "Find the {s} with the {w} {c}; show its {l}.", "What is the {l} of the {s} with the {w} {c}?"],
                  s=sname(t, rng), w=word, c=c.phrase, l=t.label.phrase)
    else:
        q = _pick(rng, ["What are the {k} {t} with the {w} {c}?", "Show the top {k} {t} by {w} {c}.",
                        "List the {l} of the {k} {t} with the {w} {c}.", "Give the {k} {t} that have the {w} {c}."],
                  k=k, t=tname(t, rng), w=word, c=c.phrase, l=t.label.phrase)
    return q, {"from": t.name, "select": [t.label.name], "order_by": [c.name, "DESC" if desc else "ASC"], "limit": k}


def distinct(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    q = _pick(rng, ["List the different {c} values of the {t}.", "What distinct {c} values appear in {t}?",
                    "Show each {c} of the {t} once.", "Which unique {c} values do the {t} have?"], c=c.phrase, t=tname(t, rng))
    return q, {"from": t.name, "select": [c.name], "distinct": True}


def group_count(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c = rng.choice(t.of("cat"))
    q = _pick(rng, ["How many {t} are there for each {c}?", "Count the {t} per {c}.", "For every {c}, show the number of {t}.",
                    "Give each {c} with its count of {t}."], t=tname(t, rng), c=c.phrase)
    return q, {"from": t.name, "select": [c.name, "COUNT(*)"], "group_by": c.name}


def group_aggregate(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = _pick_table(s, rng)
    c, n = rng.choice(t.of("cat")), rng.choice(t.of("num"))
    fn = rng.choice(list(AGG))
    q = _pick(rng, ["What is the {a} {n} of {t} for each {c}?", "Show the {a} {n} per {c} of the {t}.",
                    "For every {c}, give the {a} {n} of its {t}."], a=rng.choice(AGG[fn]), n=n.phrase, t=tname(t, rng), c=c.phrase)
    return q, {"from": t.name, "select": [c.name, f"{fn}({n.name})"], "group_by": c.name}


def having(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    t = s.child  # parents have too few rows for interesting group sizes
    c = rng.choice(t.of("cat"))
    counts = sorted({_values(db, t, c).count(v) for v in set(_values(db, t, c))})
    k = counts[0] if len(counts) > 1 else max(1, counts[0] - 1)
    q = _pick(rng, ["Which {c} values have more than {k} {t}?", "List every {c} with over {k} {t}.",
                    "Find the {c} values shared by more than {k} {t}."], c=c.phrase, k=k, t=tname(t, rng))
    return q, {"from": t.name, "select": [c.name], "group_by": c.name, "having": ["COUNT(*)", ">", str(k)]}


# ---------------------------------------------------------------- join shapes (child JOIN parent)

def _join(s: Schema) -> dict:
    return {"table": s.parent.name, "on": [f"{s.child.name}.{s.fk.name}", f"{s.parent.name}.id"]}


def join_select(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    ch, pa = s.child, s.parent
    q = _pick(rng, ["List each {cs}'s {cl} together with the {pl} of its {ps}.", "Show every {cs} {cl} and its {ps} {pl}.",
                    "For each {cs}, give the {cl} and the {pl} of the {ps} it belongs to."],
              cs=sname(ch, rng), cl=ch.label.phrase, ps=sname(pa, rng), pl=pa.label.phrase)
    return q, {"from": ch.name, "join": _join(s), "select": [f"{ch.name}.{ch.label.name}", f"{pa.name}.{pa.label.name}"]}


def join_filter(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    ch, pa = s.child, s.parent
    if rng.random() < 0.6:
        c = rng.choice(pa.of("cat"))
        v = rng.choice(_values(db, pa, c))
        cond, words = [f"{pa.name}.{c.name}", "=", _lit(v)], f"{c.phrase} {_q(v, rng)}"
    else:
        c = rng.choice(pa.of("num"))
        op = rng.choice([">", "<"])
        x = _threshold(db, pa, c, rng)
        cond, words = [f"{pa.name}.{c.name}", op, str(x)], f"a {c.phrase} {_op_phrase(op, x, rng)}"
    q = _pick(rng, ["List the {cl} of {ct} whose {ps} has {w}.", "Which {ct} belong to a {ps} with {w}? Show the {cl}.",
                    "Find the {cl} of every {cs} linked to a {ps} with {w}."],
              cl=ch.label.phrase, ct=tname(ch, rng), cs=sname(ch, rng), ps=sname(pa, rng), w=words)
    return q, {"from": ch.name, "join": _join(s), "select": [f"{ch.name}.{ch.label.name}"], "where": [cond]}


def join_group(s: Schema, db: Database, rng: random.Random) -> tuple[str, Plan]:
    ch, pa = s.child, s.parent
    key = f"{pa.name}.{pa.label.name}"
    if rng.random() < 0.5:
        q = _pick(rng, ["How many {ct} does each {ps} have? Show the {ps} {pl}.", "Count the {ct} of every {ps}, by {ps} {pl}.",
                        "For each {ps} {pl}, give the number of {ct}."], ct=tname(ch, rng), ps=sname(pa, rng), pl=pa.label.phrase)
        item = "COUNT(*)"
    else:
        n = rng.choice(ch.of("num"))
        fn = rng.choice(list(AGG))
        q = _pick(rng, ["What is the {a} {n} of the {ct} of each {ps}? Show the {ps} {pl}.",
                        "For each {ps} {pl}, give the {a} {n} of its {ct}."],
                  a=rng.choice(AGG[fn]), n=n.phrase, ct=tname(ch, rng), ps=sname(pa, rng), pl=pa.label.phrase)
        item = f"{fn}({ch.name}.{n.name})"
    return q, {"from": ch.name, "join": _join(s), "select": [key, item], "group_by": key}


SHAPES = {f.__name__: f for f in (
    select_columns, select_all, filter_text, filter_number, between, like, in_list, two_conditions,
    count_all, count_where, aggregate, aggregate_where, order_by, top_n, distinct,
    group_count, group_aggregate, having, join_select, join_filter, join_group,
)}
