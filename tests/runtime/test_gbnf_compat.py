"""GBNF as llama.cpp writes it compiles: its published grammars (test data, MIT, see
llama_cpp_grammars/SOURCE.md) each compile and accept a sample; CRLF, comments and empty
alternatives work; an error still names file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from expertkit.errors import GrammarError
from expertkit.runtime.grammar import compile_for_text, normalize_gbnf, read_grammar, text_matches_grammar

GRAMMARS = Path(__file__).parent / "llama_cpp_grammars"
SAMPLES = {
    "json": '{"name": "Ada", "tags": ["x", "y"], "n": -12.5e3, "ok": true, "none": null}',
    "json_arr": '[\n{"a": 1},\n"two",\n[3]]',
    "c": "int main(){int x = 1;return x;}",
    "chess": "1. e4 e5\n2. Nf3 Nc6\n",
    "english": "Hello, world! It works.",
    "list": "- first item\n- second item\n",
    "arithmetic": "x +2 *(y -1)= 3\n",
    "japanese": "こんにちは 世界、カタカナ",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_llama_cpp_grammar_compiles_and_accepts_a_sample(name):
    path = GRAMMARS / f"{name}.gbnf"
    compiled = compile_for_text(read_grammar(path), path.name)
    assert text_matches_grammar(compiled, SAMPLES[name])
    assert not text_matches_grammar(compiled, SAMPLES[name] + "\x01")


def test_crlf_and_empty_alternatives():
    text = (GRAMMARS / "json.gbnf").read_text(encoding="utf-8").replace("\n", "\r\n")
    compiled = compile_for_text(text, "json.gbnf")
    assert text_matches_grammar(compiled, '{"a": 1}')


@pytest.mark.parametrize("source, expected", [
    ('ws ::= | " "', 'ws ::= "" | " "'),
    ('a ::= "x" |\nb ::= "y"', 'a ::= "x" | ""\nb ::= "y"'),
    ('a ::= ("x" | ) "y"', 'a ::= ("x" | "" ) "y"'),
    ('a ::= "x" | | "y"', 'a ::= "x" | "" | "y"'),
    ('a ::= "|" [|] # a | comment |\n', 'a ::= "|" [|] # a | comment |\n'),
    ('a ::= "x" |  # trailing\n', 'a ::= "x" | ""  # trailing\n'),
])
def test_normalize_keeps_lines_and_fills_empty_alternatives(source, expected):
    assert normalize_gbnf(source) == expected
    assert normalize_gbnf(source).count("\n") == source.count("\n")


def test_an_error_names_file_and_line():
    with pytest.raises(GrammarError) as info:
        compile_for_text('root ::= "a"\r\n# comment\r\nbad ::= "b" @ "c"\r\nok ::= "d"\r\n', "expert/grammar.gbnf")
    assert info.value.message.startswith("expert/grammar.gbnf:3:")
