"""GBNF grammars with xgrammar: read, compile (errors name file:line:column), check text.

The engine compiles a grammar once per tokenizer (compiling is cheap, but the tokenizer info
costs a vocabulary pass, so it is cached per engine). `text_matches_grammar` checks a finished
string without any model, which the `grammar` test-case matcher and the tests use.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from expertkit.errors import GrammarError

_XGR_ERROR = re.compile(r"(?:EBNF (?:parser|lexer) error )?at line (\d+), column (\d+):\s*(.*)", re.S)


def read_grammar(path: str | Path) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GrammarError(f"{path}: grammar file not found", hint="create it or set training.decoding.grammar_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"{path}: cannot read the grammar: {exc}") from None


def _clean(message: str) -> str:
    # xgrammar prefixes "[hh:mm:ss] /project/cpp/file.cc:NNN: " — noise for the user
    return re.sub(r"^\[[\d:]+\]\s+\S+:\d+:\s*", "", message.strip())


def parse_grammar(text: str, source: str = "grammar", root: str = "root") -> Any:
    """An `xgrammar.Grammar` from GBNF text, starting at rule ``root``; a syntax error becomes
    `GrammarError` naming source:line:col."""
    import xgrammar as xgr

    if not text.strip():
        raise GrammarError(f"{source}: the grammar is empty", hint="define at least `root ::= ...`")
    try:
        return xgr.Grammar.from_ebnf(text, root_rule_name=root)
    except (RuntimeError, ValueError) as exc:
        detail = _clean(str(exc))
        found = _XGR_ERROR.search(detail)
        where = f"{source}:{found.group(1)}:{found.group(2)}" if found else source
        what = found.group(3).strip() if found else detail
        raise GrammarError(f"{where}: grammar does not compile: {what}", hint="see the GBNF syntax: rules `name ::= ...`, root rule `root`") from None


def compile_grammar(text: str, tokenizer_info: Any, source: str = "grammar", root: str = "root") -> Any:
    """An `xgrammar.CompiledGrammar` for a tokenizer (see `tokenizer_info`)."""
    import xgrammar as xgr

    grammar = parse_grammar(text, source, root)
    try:
        return xgr.GrammarCompiler(tokenizer_info, max_threads=1).compile_grammar(grammar)
    except (RuntimeError, ValueError) as exc:
        raise GrammarError(f"{source}: grammar does not compile: {_clean(str(exc))}") from None


def tokenizer_info(tokenizer: Any, vocab_size: int, stop_token_ids: list[int]) -> Any:
    """xgrammar's view of a HF tokenizer; ``vocab_size`` is the model's logits width."""
    import xgrammar as xgr

    return xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)


@lru_cache(maxsize=1)
def _text_only_info() -> Any:
    import xgrammar as xgr

    # string matching never looks at the vocabulary; a one-token one keeps compiling instant
    return xgr.TokenizerInfo(["<eos>"], stop_token_ids=[0])


def compile_for_text(text: str, source: str = "grammar", root: str = "root") -> Any:
    """A grammar compiled for checking strings (no model tokenizer needed)."""
    return compile_grammar(text, _text_only_info(), source, root)


def text_matches_grammar(compiled: Any, text: str) -> bool:
    """True when the whole of ``text`` is a complete sentence of the grammar."""
    import xgrammar as xgr

    matcher = xgr.GrammarMatcher(compiled)
    return bool(matcher.accept_string(text)) and matcher.is_completed()
