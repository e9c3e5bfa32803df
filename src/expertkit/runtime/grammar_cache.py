"""Compiled grammars per tokenizer: read once, slots filled per request, compiled once per text.

The engine holds one `GrammarCache`; a batch over one schema compiles its grammar once, and the
xgrammar tokenizer info (a pass over the vocabulary) is built once per engine. Reading and
compiling themselves live in `grammar.py`; this module only decides what to keep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import Message
from expertkit.errors import GrammarError
from expertkit.runtime.grammar_slots import check_slots, fill_slots
from expertkit.runtime.settings import DecodingSettings

CACHE_SIZE = 256  # compiled grammars kept (one per distinct filled grammar)


class GrammarCache:
    """Compiled grammars for one tokenizer; ``vocab_size`` is the model's logits width."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: Callable[[], list[int]]) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._stop_ids = stop_token_ids
        self._files: dict[tuple[Any, ...], str] = {}
        self._compiled: dict[tuple[str, str], Any] = {}  # (grammar text, root rule) -> compiled
        self._info: Any = None
        self._think_vocab: Any = None

    def compiled(self, settings: DecodingSettings, messages: Sequence[Message] = (), root: str = "root") -> Any:
        """The settings' grammar from rule ``root``, its slots filled from ``messages``."""
        from expertkit.runtime.grammar import compile_grammar

        path = settings.grammar_file
        if path is None or not Path(path).is_file():
            raise GrammarError(
                f"grammar requested but {'no grammar file is configured' if path is None else f'{path} does not exist'}",
                hint="add grammar.gbnf beside manifest.json or set training.decoding.grammar_file",
            )
        text = self._text(Path(path), settings)
        if settings.grammar_slots:
            text = fill_slots(text, settings.grammar_slots, messages)
        key = (text, root)
        if key not in self._compiled:
            if len(self._compiled) >= CACHE_SIZE:
                self._compiled.pop(next(iter(self._compiled)))  # oldest first
            self._compiled[key] = compile_grammar(text, self.tokenizer_info(), str(path), root)
        return self._compiled[key]

    def _text(self, path: Path, settings: DecodingSettings) -> str:
        """The grammar file's text (re-read when it changes), its slots and reasoning rule checked once."""
        from expertkit.runtime.grammar import read_grammar

        key = (str(path), path.stat().st_mtime, settings.grammar_slots, settings.reasoning_rule)
        if key not in self._files:
            text = read_grammar(path)
            check_slots(text, settings.grammar_slots, str(path), settings.reasoning_rule)
            self._files[key] = text
        return self._files[key]

    def tokenizer_info(self) -> Any:
        from expertkit.runtime.grammar import tokenizer_info

        if self._info is None:
            self._info = tokenizer_info(self.tokenizer, self.vocab_size, self._stop_ids())
        return self._info

    def think_vocab(self) -> Any:
        from expertkit.runtime.constrained import ThinkVocab

        if self._think_vocab is None:
            encode = lambda s: self.tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
            self._think_vocab = ThinkVocab(list(self.tokenizer_info().decoded_vocab), self.vocab_size, encode)
        return self._think_vocab
