"""Decoding settings: the manifest's `training.decoding`, overridable per call.

One frozen value object so the engine, the test runner and the benches agree on what
"temperature 0" or "thinking on" means, and so an override can't silently mutate the manifest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError
from expertkit.manifest.layout import grammar_path
from expertkit.runtime.grammar_slots import GrammarSlot

OVERRIDABLE = (
    "temperature", "top_p", "top_k", "min_p", "max_new_tokens", "stop_sequences",
    "enable_thinking", "use_grammar", "grammar_file", "grammar_slots", "reasoning_rule",
)


@dataclass(frozen=True)
class DecodingSettings:
    """How one generation samples. ``temperature == 0`` means greedy (deterministic)."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    max_new_tokens: int = 256
    stop_sequences: tuple[str, ...] = ()
    # None = as in training: the bare assistant header, the model decides whether to think
    # (training prompts are exactly that); False pre-fills an empty think block (Qwen3's switch).
    enable_thinking: bool | None = None
    use_grammar: bool = False
    grammar_file: Path | None = None  # absolute; None = no grammar available
    grammar_slots: tuple[GrammarSlot, ...] = ()  # rules narrowed per request (see grammar_slots.py)
    reasoning_rule: str | None = None  # grammar rule the think block must match; None = free text

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def override(self, **changes: Any) -> DecodingSettings:
        """A copy with ``changes`` applied; ``None`` values mean "keep"; unknown keys are an error."""
        unknown = sorted(set(changes) - set(OVERRIDABLE))
        if unknown:
            raise UsageError(f"unknown decoding setting(s): {', '.join(unknown)} (expected {', '.join(OVERRIDABLE)})")
        given = {k: v for k, v in changes.items() if v is not None}
        if "stop_sequences" in given:
            given["stop_sequences"] = tuple(given["stop_sequences"])
        if "grammar_file" in given:
            given["grammar_file"] = Path(given["grammar_file"])
        new = dataclasses.replace(self, **given)
        new.check()
        return new

    def check(self) -> None:
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_new_tokens <= 0 or self.top_k < 0 or not 0 <= self.min_p < 1:
            raise UsageError(
                f"decoding settings out of range (temperature={self.temperature}, top_p={self.top_p}, top_k={self.top_k}, "
                f"min_p={self.min_p}, max_new_tokens={self.max_new_tokens})",
                hint="expected temperature >= 0, 0 < top_p <= 1, top_k >= 0, 0 <= min_p < 1, max_new_tokens > 0",
            )

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for transformers' `generate` (sampling part only)."""
        if self.greedy:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, "min_p": None}
        return {
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k or None,  # 0 = off
            "min_p": self.min_p or None,
        }


def settings_from_manifest(loaded: Any) -> DecodingSettings:
    """Settings from a `LoadedManifest`; the grammar file resolves against the manifest dir.

    ``grammar_file`` defaults to grammar.gbnf beside the manifest when that file exists, so a
    per-call ``use_grammar=True`` works without naming it.
    """
    dec = loaded.model.training.decoding
    settings = DecodingSettings(
        temperature=dec.temperature,
        top_p=dec.top_p,
        top_k=dec.top_k,
        min_p=dec.min_p,
        max_new_tokens=dec.max_new_tokens,
        stop_sequences=tuple(dec.stop_sequences),
        enable_thinking=dec.enable_thinking,
        use_grammar=dec.use_grammar,
        grammar_file=grammar_path(loaded.model, loaded.base_dir),
        grammar_slots=tuple(GrammarSlot(rule, slot.message, slot.pattern or "", slot.kind, slot.copy_from or "",
                                        tuple((key, bound) for key, bound in slot.bind.items()), slot.template or "",
                                        slot.if_none, slot.names_from or "")
                            for rule, slot in dec.grammar_slots.items()),
        reasoning_rule=dec.reasoning_rule,
    )
    settings.check()
    return settings


def expert_settings(loaded: Any, source: Any = None) -> DecodingSettings:
    """The expert's settings: its manifest's, plus the grammar its package brings (an `AdapterSource`
    from a .expert file) when the manifest names none. Computed once and passed down, so the
    grammar cases are judged by is the grammar the model is held to."""
    settings = settings_from_manifest(loaded)
    grammar = getattr(source, "grammar_file", None)
    if grammar is not None and settings.grammar_file is None:
        settings = settings.override(grammar_file=grammar)
    return settings
