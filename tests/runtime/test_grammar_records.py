"""Record slots: rules copied per record / linked pair of the prompt; slots read from the think block."""

from __future__ import annotations

import pytest

from expertkit.errors import GrammarError
from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
from expertkit.runtime.grammar_records import Record, links, pair_bindings, parse_records, specialise
from expertkit.runtime.grammar_slots import GrammarSlot, check_slots, fill_slots

RECORD = r"^([a-z_]+)\(([^)]*)\)"
SCHEMA = "Schema:\ncategories(id, label)\nproducts(id, title, price, category_id)\nvisitors(id, city)"
# a small SQL: one table, or a join of a table with the one it refers to
GRAMMAR = """root ::= single | joined
single ::= "SELECT " cols " FROM " table wpart ";"
joined ::= "SELECT " cols " FROM " left " JOIN " right " ON " left "." lkey " = " right "." rkey wpart ";"
wpart ::= where?
cols ::= column (", " column)*
where ::= " WHERE " column " = " [0-9]+
table ::= [a-z_]+
left ::= [a-z_]+
right ::= [a-z_]+
lkey ::= [a-z_]+
rkey ::= [a-z_]+
column ::= ([a-z_]+ ".")? [a-z_]+
pick ::= [a-z_]+
"""
SINGLE = GrammarSlot("single", "system", RECORD, "records", bind=(("name", "table"), ("members", "column")))
JOINED = GrammarSlot("joined", "system", RECORD, "record_pairs",
                     bind=(("name", "left"), ("other_name", "right"), ("key", "lkey"), ("other_key", "rkey"), ("qualified", "column")))


def chat(system: str = SCHEMA, think: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "q"}]
    return messages + ([{"role": "reasoning", "content": think}] if think is not None else [])


def test_records_and_their_references():
    records = parse_records([SCHEMA, "items(id INTEGER, name TEXT)"], RECORD)
    assert records[0] == Record("categories", ("id", "label")) and records[3] == Record("items", ("id", "name"))
    cats, products, visitors = records[:3]
    assert links(products, cats) == [("category_id", "id")]  # singular -y of -ies
    assert links(cats, products) == [] and links(products, visitors) == []
    assert links(Record("animals", ("keeper_id",)), Record("keepers", ("id",))) == [("keeper_id", "id")]
    assert len(pair_bindings(records[:3], {"name": "l", "other_name": "r"})) == 1  # only the referring pair
    unlinked = pair_bindings([visitors, Record("shops", ("id", "town"))], {"key": "k", "other_key": "o"})
    assert len(unlinked) == 2 and unlinked[0]["k"] == '"id" | "city"'  # no reference shown: every pair, any members


def test_a_query_uses_only_the_columns_of_its_tables():
    compiled = compile_for_text(fill_slots(GRAMMAR, [SINGLE, JOINED], chat()))
    for ok in ("SELECT title, price FROM products WHERE price = 3;", "SELECT city FROM visitors;",
               "SELECT products.title, categories.label FROM products JOIN categories ON products.category_id = categories.id;"):
        assert text_matches_grammar(compiled, ok), ok
    for bad in ("SELECT label FROM products;",  # another table's column
                "SELECT title FROM products WHERE city = 3;",
                "SELECT products.title FROM products JOIN visitors ON products.category_id = visitors.id;",  # unrelated tables
                "SELECT categories.label FROM categories JOIN products ON categories.id = products.category_id;",  # wrong way round
                "SELECT products.title FROM products JOIN categories ON products.price = categories.id;",  # not the reference
                "SELECT visitors.city FROM products JOIN categories ON products.category_id = categories.id;",
                "SELECT title FROM orders;"):
        assert not text_matches_grammar(compiled, bad), bad


def test_without_records_the_file_rules_stay():
    assert fill_slots(GRAMMAR, [SINGLE, JOINED], chat("no schema here")) == GRAMMAR
    compiled = compile_for_text(GRAMMAR)
    assert text_matches_grammar(compiled, "SELECT label FROM products;")


def test_specialise_copies_only_rules_that_use_a_bound_rule():
    filled = specialise(GRAMMAR, "single", [{"table": '"a"', "column": '"x"'}, {"table": '"b"', "column": '"y"'}])
    assert filled.count("single__0__") and "single ::= single__0__single | single__1__single\n" in filled
    assert "single__0__where ::=" in filled and "single__0__wpart ::=" in filled and "single__0__cols ::=" in filled
    assert "single__0__pick" not in filled and "single__0__left" not in filled  # unused or unbound rules are shared
    closed = compile_for_text(specialise(GRAMMAR, "single", []))
    assert not text_matches_grammar(closed, "SELECT a FROM b;")
    assert text_matches_grammar(closed, "SELECT a FROM b JOIN c ON b.x = c.y;")


def test_slots_that_read_the_plan():
    plan_table = GrammarSlot("pick", "reasoning", r"Table: ([a-z_]+)\.")
    single = GrammarSlot("single", "system", RECORD, "records", bind=(("name", "table"), ("members", "column")), names_from="pick")
    where = GrammarSlot("wpart", "reasoning", r"Filter (.+?)\.", template=r" WHERE \1", if_none="empty")
    slots = [plan_table, single, where, JOINED]
    before = fill_slots(GRAMMAR, slots, chat())  # no think block yet: every table, the file's where
    assert text_matches_grammar(compile_for_text(before), "SELECT city FROM visitors WHERE city = 2;")
    after = compile_for_text(fill_slots(GRAMMAR, slots, chat(think="Table: products. Filter price = 4.")))
    assert text_matches_grammar(after, "SELECT title FROM products WHERE price = 4;")
    for bad in ("SELECT city FROM visitors WHERE price = 4;", "SELECT title FROM products;", "SELECT title FROM products WHERE price = 5;"):
        assert not text_matches_grammar(after, bad), bad
    no_filter = compile_for_text(fill_slots(GRAMMAR, slots, chat(think="Table: products.")))
    assert text_matches_grammar(no_filter, "SELECT title FROM products;")  # if_none empty: the clause is left out
    assert not text_matches_grammar(no_filter, "SELECT title FROM products WHERE price = 4;")
    nothing = GrammarSlot("cols", "reasoning", r"Return (.+)\.", if_none="nothing")
    closed = compile_for_text(fill_slots(GRAMMAR, [nothing], chat(think="Table: products.")))
    assert not text_matches_grammar(closed, "SELECT title FROM products;")


def test_slot_rules_must_exist():
    with pytest.raises(GrammarError, match="no rule `tab ::= ...` to bind to name"):
        check_slots(GRAMMAR, [GrammarSlot("single", "system", RECORD, "records", bind=(("name", "tab"),))])
    with pytest.raises(GrammarError, match="names_from: 'pick' is not a values slot"):
        check_slots(GRAMMAR, [GrammarSlot("single", "system", RECORD, "records", bind=(("name", "table"),), names_from="pick")])


def test_manifest_checks_the_records_options():
    from expertkit.manifest.checks import _slot_bind_problems
    from expertkit.manifest.model import GrammarSlotSpec

    def problems(**spec):
        return [p.path for p in _slot_bind_problems("r", GrammarSlotSpec(message="system", **spec))]

    assert problems(kind="records", pattern="x", bind={"name": "t"}) == []
    assert problems(kind="records", pattern="x") == ["training.decoding.grammar_slots.r.bind"]
    assert problems(kind="records", pattern="x", bind={"other_name": "t"}) == ["training.decoding.grammar_slots.r.bind.other_name"]
    assert problems(pattern="x", bind={"name": "t"}) == ["training.decoding.grammar_slots.r.bind"]
    assert problems(kind="record_pairs", pattern="x", bind={"name": "t"}, template="y") == ["training.decoding.grammar_slots.r.template"]
