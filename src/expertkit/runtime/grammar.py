"""GBNF grammars with xgrammar: read, compile (errors name file:line:column), check text.

Grammars are read as llama.cpp writes them (its grammars/README.md): CRLF line ends, `#`
comments, `{m,n}` repetitions, character classes and escapes all go to xgrammar as they are;
what xgrammar lacks is rewritten first by `normalize_gbnf` — today that is the empty
alternative (`ws ::= | " " | ...` in llama.cpp's own json.gbnf), which becomes `""`. The
rewrite never moves a line, so a compile error still names the user's file:line.

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


# GBNF tokens that matter for finding empty alternatives; everything else is an element
_GBNF_TOKEN = re.compile(
    r'(?P<string>"(?:\\.|[^"\\])*")|(?P<cls>\[(?:\\.|[^\]\\])*\])|(?P<comment>#[^\r\n]*)'
    r"|(?P<define>::=)|(?P<pipe>\|)|(?P<open>\()|(?P<close>\))|(?P<space>\s+)"
    r"|(?P<name>[A-Za-z0-9_-]+)(?=[ \t]*::=)|(?P<other>[^\s\"\[#|()]+|.)"
)


def normalize_gbnf(text: str) -> str:
    """llama.cpp GBNF in the dialect xgrammar compiles: every empty alternative (at the start or
    end of a rule or group, or between two `|`) becomes the empty string `""`."""
    out: list[str] = []
    empty = True  # no element since the last rule start, `(` or `|`
    pending = False  # a separator was seen, so an empty run before the next one is an alternative
    for m in _GBNF_TOKEN.finditer(text):
        kind, token = m.lastgroup, m.group()
        if kind in ("pipe", "close") or (kind == "name" and pending):
            if empty and (pending or kind == "pipe"):
                _insert_before_space(out, '""')
            pending, empty = kind == "pipe", kind != "close"
            if kind == "name":
                pending, empty = False, True
        elif kind in ("define", "open"):
            empty, pending = True, False
        elif kind not in ("space", "comment"):
            empty = False
        out.append(token)
    if empty and pending:
        _insert_before_space(out, '""')
    return "".join(out)


def _insert_before_space(out: list[str], token: str) -> None:
    """Insert ``token`` before trailing whitespace/comments, so it stays on its alternative's line."""
    i = len(out)
    while i and (out[i - 1].isspace() or out[i - 1].startswith("#")):
        i -= 1
    out.insert(i, " " + token if i and not out[i - 1].isspace() else token)


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
        return xgr.Grammar.from_ebnf(normalize_gbnf(text), root_rule_name=root)
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


def json_schema_gbnf(schema: dict[str, Any], strict: bool = True) -> str:
    """GBNF text of xgrammar's grammar for a JSON Schema: compact JSON (`", "` and `": "`), properties
    in schema order; ``strict`` forbids properties the schema does not list. One conversion for the
    server's response_format and for json_schema grammar slots."""
    import json

    import xgrammar as xgr

    try:
        return str(xgr.Grammar.from_json_schema(json.dumps(schema), strict_mode=strict, any_whitespace=False))
    except Exception as exc:  # xgrammar raises RuntimeError/ValueError with its parser's message
        raise GrammarError(f"can't be compiled: {_clean(str(exc)).splitlines()[0][:300]}") from None


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


_RULE_DEF = re.compile(r"^[ \t]*([A-Za-z0-9_-]+)[ \t]*::=", re.M)


def grammar_problems(manifest: Any, base_dir: Path) -> list:
    """With ``use_grammar`` on: the grammar compiles, and ``reasoning_rule`` and every
    ``grammar_slots`` rule (and rule a slot binds) are rules of it (problems for `validate`, by JSON path)."""
    from expertkit.manifest.problems import Problem

    dec = manifest.training.decoding
    if not dec.use_grammar:
        return []
    rel = dec.grammar_file or "grammar.gbnf"
    path = base_dir / rel
    if not path.is_file():
        return []  # a missing file is a manifest check
    field = "training.decoding.grammar_file" if dec.grammar_file else "training.decoding.use_grammar"
    try:
        text = read_grammar(path)
        compile_for_text(text, rel)
    except GrammarError as exc:
        return [Problem(field, exc.message)]
    rules = set(_RULE_DEF.findall(text))
    wanted = [("training.decoding.reasoning_rule", dec.reasoning_rule)] if dec.reasoning_rule else []
    wanted += [(f"training.decoding.grammar_slots.{rule}", rule) for rule in dec.grammar_slots]
    wanted += [(f"training.decoding.grammar_slots.{rule}.bind.{key}", bound)
               for rule, slot in dec.grammar_slots.items() for key, bound in slot.bind.items()]
    return [Problem(where, f"{rule!r} is not a rule of {rel} (expected one of: {', '.join(sorted(rules))})")
            for where, rule in wanted if rule not in rules]
