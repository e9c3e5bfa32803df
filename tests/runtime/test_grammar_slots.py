"""Grammar slots: rules narrowed per request to names the prompt contains."""

from __future__ import annotations

import pytest

from expertkit.errors import GrammarError
from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
from expertkit.runtime.grammar_slots import GrammarSlot, check_slots, fill_slots, gbnf_literal, rule_span

GRAMMAR = """# a comment
root ::= "SELECT " name " FROM " table ";"
table ::= [a-z]+
name ::= [a-z]+
"""
TABLE = GrammarSlot("table", "system", r"^([a-z_]+)\(")
NAME = GrammarSlot("name", "user", r"'([^']+)'|(\w+)")
CHAT = [{"role": "system", "content": "Schema:\nusers(id, name)\norders(id, total)"},
        {"role": "user", "content": "old question users"},
        {"role": "assistant", "content": "SELECT x FROM users;"},
        {"role": "user", "content": "Show the 'full name' of orders"}]


def test_values_come_from_the_named_message_in_first_seen_order():
    assert TABLE.values(CHAT) == ["users", "orders"]
    assert NAME.values(CHAT) == ["Show", "the", "full name", "of", "orders"]  # last user turn; first group that matched
    assert GrammarSlot("table", "prompt", r"\busers\b").values(CHAT) == ["users"]  # no group: the whole match
    assert TABLE.values([{"role": "user", "content": "users(id)"}]) == []


def test_fill_replaces_only_the_slot_rules():
    filled = fill_slots(GRAMMAR, [TABLE], CHAT)
    assert 'table ::= "users" | "orders"\n' in filled and "name ::= [a-z]+" in filled and filled.startswith("# a comment")
    compiled = compile_for_text(filled)
    assert text_matches_grammar(compiled, "SELECT anything FROM orders;")
    assert not text_matches_grammar(compiled, "SELECT anything FROM order;")


def test_no_match_keeps_the_file_rule():
    assert fill_slots(GRAMMAR, [TABLE], [{"role": "user", "content": "hi"}]) == GRAMMAR


def test_values_are_escaped_as_literals():
    assert gbnf_literal('a "b" \\ c\n') == '"a \\"b\\" \\\\ c\\n"'
    filled = fill_slots(GRAMMAR, [GrammarSlot("name", "user", r".+")], [{"role": "user", "content": 'say "hi" \\ now'}])
    assert text_matches_grammar(compile_for_text(filled), 'SELECT say "hi" \\ now FROM x;')


def test_rule_span_covers_the_definition_up_to_the_next_rule():
    start, end = rule_span(GRAMMAR, "table")
    assert GRAMMAR[start:end] == "table ::= [a-z]+\n"
    assert rule_span(GRAMMAR, "nope") is None


def test_a_slot_without_its_rule_is_an_error():
    with pytest.raises(GrammarError, match=r"grammar_slots\.column: g\.gbnf has no rule `column"):
        check_slots(GRAMMAR, [GrammarSlot("column", "system", "x")], "g.gbnf")


def test_engine_generation_uses_only_prompt_names(tiny_llama_dir, tiny_adapter, tmp_path):
    """End to end on the tiny model: whatever it generates, the table is one the schema names."""
    from expertkit.manifest.model import model_slug
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_expert

    root = make_expert(tmp_path, tiny_llama_dir, tiny_adapter, grammar='root ::= "SELECT * FROM " table ";"\ntable ::= [a-z]{1,6}\n',
                       grammar_slots={"table": {"message": "system", "pattern": r"^([a-z]+)\("}})
    with InferenceEngine.from_manifest(root / "manifest.json", root / "weights" / model_slug(str(tiny_llama_dir)) / "final") as engine:
        requests = [{"system": f"Schema:\n{t}(id)\nzeta(id)", "input": "all rows"} for t in ("kiwi", "plum", "fig")]
        from expertkit.runtime.prompts import Request

        gens = engine.generate([Request(**r) for r in requests], use_grammar=True, enable_thinking=False, max_new_tokens=20)
    for req, gen in zip(requests, gens, strict=True):
        table = gen.answer.removeprefix("SELECT * FROM ").removesuffix(";")
        assert gen.grammar_complete and table in {req["system"].split("\n")[1][:-4], "zeta"}, gen.answer
