"""GBNF compile errors name file:line:column; string checks against a grammar."""

from __future__ import annotations

import pytest

from expertkit.errors import GrammarError
from expertkit.runtime.grammar import compile_for_text, parse_grammar, read_grammar, text_matches_grammar


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('root ::= "a"\nitem ::= "b" (\n', "g.gbnf:3:1", "Expect element"),
        ('root ::= "a" | missing\n', "g.gbnf:1:", 'Rule "missing" is not defined'),
        ('root ::= "unterminated\n', "g.gbnf:1:", "string literal"),
        ('start ::= "a"\n', "g.gbnf:1:1", 'root rule with name "root" is not found'),
    ],
)
def test_compile_errors_name_the_line(text, where, what):
    with pytest.raises(GrammarError) as info:
        parse_grammar(text, "g.gbnf")
    assert info.value.message.startswith(where) and what in info.value.message
    assert "/project/cpp" not in info.value.message  # xgrammar's own source location is noise


def test_empty_and_missing_grammar(tmp_path):
    with pytest.raises(GrammarError, match="empty"):
        parse_grammar("  \n", "g.gbnf")
    with pytest.raises(GrammarError, match="not found"):
        read_grammar(tmp_path / "none.gbnf")


def test_text_matches_grammar():
    compiled = compile_for_text('root ::= "SELECT " [a-z]+ ("," [a-z]+)* ";"')
    assert text_matches_grammar(compiled, "SELECT a,bc;")
    assert not text_matches_grammar(compiled, "SELECT a,bc")  # incomplete
    assert not text_matches_grammar(compiled, "select a;")
    assert not text_matches_grammar(compiled, "SELECT a; extra")
