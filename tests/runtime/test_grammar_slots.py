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


# -- json_schema slots: the rule becomes the grammar of the JSON Schema a message carries --------
JSON_FALLBACK = 'root ::= "{" [^}]* "}"\n'
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]},
                                           "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}},
          "required": ["name", "age", "tags"]}
JSON_SLOT = GrammarSlot("root", "system", kind="json_schema")


def _schema_chat(schema_text: str) -> list[dict]:
    return [{"role": "system", "content": f"Extract as JSON matching this schema:\n{schema_text}"},
            {"role": "user", "content": "Ana, 31, tags a"}]


def test_json_schema_slot_holds_the_answer_to_the_message_schema():
    import json

    compiled = compile_for_text(fill_slots(JSON_FALLBACK, [JSON_SLOT], _schema_chat(json.dumps(SCHEMA))))
    assert text_matches_grammar(compiled, '{"name": "Ana", "age": 31, "tags": ["a"]}')
    assert text_matches_grammar(compiled, '{"name": "Ana", "age": null, "tags": []}')
    for wrong in ('{"name": "Ana", "tags": ["a"]}', '{"age": 31, "name": "Ana", "tags": ["a"]}',  # missing key, key order
                  '{"name": "Ana", "age": "31", "tags": ["a"]}', '{"name": "Ana", "age": 31, "tags": ["c"]}',  # type, enum
                  '{"name": "Ana", "age": 31, "tags": ["a"], "x": 1}', '{"name":"Ana","age":31,"tags":["a"]}'):  # extra key, spacing
        assert not text_matches_grammar(compiled, wrong), wrong


def test_json_schema_slot_renames_the_schema_rules_and_keeps_the_file_rules():
    import json

    grammar = 'root ::= "<a>" object "</a>"\nobject ::= "{}"\nbasic_string ::= "file rule"\n'
    slot = GrammarSlot("object", "system", kind="json_schema")
    filled = fill_slots(grammar, [slot], _schema_chat(json.dumps(SCHEMA)))
    assert "object ::= object__root\n" in filled and 'basic_string ::= "file rule"' in filled and "object__basic_string ::=" in filled
    assert text_matches_grammar(compile_for_text(filled), '<a>{"name": "x", "age": 1, "tags": ["b", "a"]}</a>')


def test_json_schema_slot_without_a_schema_keeps_the_file_rule():
    assert fill_slots(JSON_FALLBACK, [JSON_SLOT], _schema_chat("no schema here {not json")) == JSON_FALLBACK
    assert fill_slots(JSON_FALLBACK, [JSON_SLOT], [{"role": "user", "content": '{"type": "object"}'}]) == JSON_FALLBACK  # wrong message


def test_json_schema_slot_pattern_narrows_where_the_schema_is():
    import json

    text = 'example: {"name": "not a schema"}\nSCHEMA: ' + json.dumps(SCHEMA)
    slot = GrammarSlot("root", "system", r"^SCHEMA: (.*)$", kind="json_schema")
    assert slot.schema([{"role": "system", "content": text}]) == SCHEMA
    assert JSON_SLOT.schema([{"role": "system", "content": text}]) == {"name": "not a schema"}  # default: the first object


def test_a_schema_xgrammar_refuses_is_an_error_naming_the_slot():
    with pytest.raises(GrammarError, match=r"grammar_slots\.root: the prompt's JSON Schema can't be compiled"):
        fill_slots(JSON_FALLBACK, [JSON_SLOT], _schema_chat('{"type": "object", "properties": {"a": {"type": "no-such-type"}}}'))


def test_manifest_json_schema_slot_reaches_the_settings_and_validate(tmp_path):
    import json

    from expertkit.manifest.checks import semantic_problems
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.settings import settings_from_manifest
    from tests.runtime.expert_factory import manifest_dict

    raw = manifest_dict(tmp_path, use_grammar=True, grammar_slots={"root": {"message": "system", "kind": "json_schema"}})
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    (tmp_path / "grammar.gbnf").write_text(JSON_FALLBACK)
    loaded = load_manifest(tmp_path / "manifest.json")
    assert settings_from_manifest(loaded).grammar_slots == (GrammarSlot("root", "system", "", "json_schema"),)
    assert not [p for p in semantic_problems(loaded.model, tmp_path) if "decoding" in p.path]
    raw["training"]["decoding"]["grammar_slots"] = {"root": {"message": "system"}}  # a values slot needs its pattern
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    from expertkit.errors import ManifestError

    with pytest.raises(ManifestError, match=r"grammar_slots\.root\.pattern: is required for a values slot"):
        load_manifest(tmp_path / "manifest.json")


def test_engine_answers_follow_each_rows_own_schema(tiny_llama_dir, tiny_adapter, tmp_path):
    """End to end on the tiny model: rows with different schemas in one batch each get an object of their schema."""
    import json

    from expertkit.manifest.model import model_slug
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.prompts import Request
    from tests.runtime.expert_factory import make_expert

    root = make_expert(tmp_path, tiny_llama_dir, tiny_adapter, grammar=JSON_FALLBACK,
                       grammar_slots={"root": {"message": "system", "kind": "json_schema"}})
    schemas = [{"type": "object", "properties": {k: {"type": t}}, "required": [k]}
               for k, t in (("flag", "boolean"), ("count", "integer"), ("mood", "null"))]
    requests = [Request(input="text", system="Schema:\n" + json.dumps(s)) for s in schemas]
    with InferenceEngine.from_manifest(root / "manifest.json", root / "weights" / model_slug(str(tiny_llama_dir)) / "final") as engine:
        gens = engine.generate(requests, use_grammar=True, enable_thinking=False, max_new_tokens=24)
    import jsonschema

    for schema, gen in zip(schemas, gens, strict=True):
        if gen.grammar_complete:
            jsonschema.validate(json.loads(gen.answer), schema)
        else:  # a random tiny model may run out of tokens inside a string; what it wrote is still the schema's prefix
            assert gen.answer.startswith('{"' + next(iter(schema["properties"])) + '": '), gen.answer


def test_copy_from_limits_strings_and_numbers_to_what_the_message_says():
    import json

    schema = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": ["integer", "null"]},
                                               "fee": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}},
                                               "mood": {"type": "string", "enum": ["calm", "wild"]}},
              "required": ["name", "n", "fee", "tags", "mood"]}
    chat = [{"role": "system", "content": json.dumps(schema)},
            {"role": "user", "content": 'Meet Dr. Lee, 3 cats, fee $21.50, low -5 C; loves walks, "shy".'}]
    slot = GrammarSlot("root", "system", kind="json_schema", copy_from="user")
    compiled = compile_for_text(fill_slots(JSON_FALLBACK, [slot], chat))
    for ok in ('{"name": "Dr. Lee", "n": 3, "fee": 21.50, "tags": ["loves walks", "shy"], "mood": "wild"}',  # words, trailing punctuation off
               '{"name": "Lee", "n": null, "fee": 21.5, "tags": [], "mood": "calm"}', '{"name": "cats", "n": -5, "fee": -5, "tags": [], "mood": "calm"}'):
        assert text_matches_grammar(compiled, ok), ok
    for wrong in ('{"name": "Bob", "n": 3, "fee": 21.5, "tags": [], "mood": "calm"}',  # a word the text lacks
                  '{"name": "Lee", "n": 4, "fee": 21.5, "tags": [], "mood": "calm"}',  # a number the text lacks
                  '{"name": "Lee", "n": 21.5, "fee": 21.5, "tags": [], "mood": "calm"}'):  # a decimal is no integer
        assert not text_matches_grammar(compiled, wrong), wrong
    plain = compile_for_text(fill_slots(JSON_FALLBACK, [slot], [chat[0], {"role": "user", "content": ""}]))  # nothing to copy
    assert text_matches_grammar(plain, '{"name": "Bob", "n": 7, "fee": 1.5, "tags": ["x"], "mood": "calm"}')


def test_copy_from_only_on_json_schema_slots(tmp_path):
    import json

    from expertkit.errors import ManifestError
    from expertkit.manifest.loader import load_manifest
    from tests.runtime.expert_factory import manifest_dict

    raw = manifest_dict(tmp_path, grammar_slots={"t": {"message": "user", "pattern": "(x)", "copy_from": "user"}})
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"grammar_slots\.t\.copy_from: only applies to a json_schema slot"):
        load_manifest(tmp_path / "manifest.json")
