"""A request's own grammar (``response_format`` json_object/json_schema, or GBNF in ``grammar``)
as decoding overrides: the engine holds grammars as files, so each distinct text is written once
to a content-addressed file and compiled (and cached) by the engine's grammar cache.

A request grammar replaces the expert's: its slots and reasoning rule belong to the expert's
grammar and are dropped with it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from expertkit.errors import GrammarError
from expertkit.runtime.grammar import json_schema_gbnf
from expertkit.serve.errors import APIError
from expertkit.serve.protocol import ChatCompletionRequest

MAX_GRAMMAR_CHARS = 200_000


class GrammarFiles:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or Path(tempfile.mkdtemp(prefix="expertkit-serve-grammars-"))

    def path(self, text: str) -> Path:
        path = self.dir / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.gbnf"
        if not path.exists():
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return path


def grammar_text(req: ChatCompletionRequest) -> tuple[str | None, str | None]:
    """(grammar text, the parameter it came from), or (None, None) when the request brings none."""
    import xgrammar as xg

    if req.grammar is not None:
        if not req.grammar.strip():
            raise APIError(400, "grammar is empty", param="grammar")
        return req.grammar, "grammar"
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return None, None
    if fmt.type == "json_object":
        return str(xg.Grammar.builtin_json_grammar()), "response_format"
    schema = fmt.json_schema.schema_ if fmt.json_schema else None
    try:
        return json_schema_gbnf(schema, strict=fmt.json_schema.strict is not False), "response_format"
    except GrammarError as exc:
        raise APIError(400, f"response_format.json_schema.schema {exc.message}", param="response_format") from None


def grammar_overrides(req: ChatCompletionRequest, files: GrammarFiles) -> dict[str, Any]:
    text, param = grammar_text(req)
    if text is None:
        return {} if req.use_grammar is None else {"use_grammar": req.use_grammar}
    if req.use_grammar is False:
        raise APIError(400, f"use_grammar is false but {param} asks for a grammar", param="use_grammar")
    if len(text) > MAX_GRAMMAR_CHARS:
        raise APIError(400, f"{param}: grammar longer than {MAX_GRAMMAR_CHARS} characters", param=param)
    return {"use_grammar": True, "grammar_file": files.path(text), "grammar_slots": (), "reasoning_rule": ""}
