"""The inference engine: one base model plus (optionally) one adapter, batched generation.

Tests, benches and (later) chat/serve all generate through `InferenceEngine`, so the prompt
template, thinking switch, decoding settings and grammar enforcement are the same everywhere.
The base model is compared against by disabling the adapter (PEFT's `disable_adapter()`
context) on the same loaded weights, so a comparison never loads the model twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import Message
from expertkit.errors import GrammarError
from expertkit.manifest.layout import pick_base_model
from expertkit.runtime.adapter_source import AdapterSource, open_adapter
from expertkit.runtime.grammar_slots import check_slots, fill_slots
from expertkit.runtime.prompts import OPEN_THINK, Request, as_request, build_prompt, prefill, split_output
from expertkit.runtime.settings import DecodingSettings, settings_from_manifest


@dataclass
class Generation:
    """One answer. ``text`` is everything generated (think block included, stop token excluded)."""

    text: str
    answer: str
    reasoning: str | None
    tokens: int  # generated tokens, stop token excluded
    latency_ms: float  # wall time of the batch this answer was generated in
    finish_reason: str  # "stop" | "length" | "stop_sequence"
    batch_size: int
    grammar_complete: bool | None = None  # None when no grammar was applied


class InferenceEngine:
    """Base model + adapter; `generate` is the one entry point. Build with `from_manifest`."""

    def __init__(self, base: Any, settings: DecodingSettings, *, adapter: AdapterSource | None = None,
                 system_prompt: str | None = None) -> None:
        self.base = base  # LoadedBase
        self.tokenizer = base.tokenizer
        self.settings = settings
        self.system_prompt = system_prompt
        self.adapter = adapter
        self.model = base.model
        self.adapter_param_bytes = 0
        self.cuda_bytes_delta = 0
        self._grammar_files: dict[tuple[Any, ...], str] = {}
        self._grammar_cache: dict[tuple[str, str], Any] = {}  # (grammar text, root rule) -> compiled
        self._xgr_info: Any = None
        self._think_vocab: Any = None
        self.batch_sizes_used: set[int] = set()
        if adapter is not None:
            self._attach(adapter)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest: Any, adapter: str | Path | AdapterSource | None = None, *,
                      model: str | None = None, device: str = "auto", dtype: Any = None) -> InferenceEngine:
        """Load the manifest's base model (``model`` picks among base_models) and ``adapter``."""
        from expertkit.manifest.loader import LoadedManifest, load_manifest
        from expertkit.models.loading import load_base

        loaded = manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest)
        spec = pick_base_model(loaded, model)
        source = adapter if isinstance(adapter, AdapterSource) or adapter is None else open_adapter(adapter)
        try:
            base = load_base(spec, device=device, dtype=dtype)
            settings = settings_from_manifest(loaded)
            if source is not None and source.grammar_file and settings.grammar_file is None:
                settings = settings.override(grammar_file=source.grammar_file)  # a package brings its grammar
            return cls(base, settings, adapter=source, system_prompt=loaded.model.training.dataset.system_prompt)
        except BaseException:
            if source is not None and not isinstance(adapter, AdapterSource):
                source.close()
            raise

    def _attach(self, source: AdapterSource) -> None:
        import torch
        from peft import PeftModel

        on_cuda = str(self.base.device).startswith("cuda")
        before = torch.cuda.memory_allocated() if on_cuda else 0
        try:
            self.model = PeftModel.from_pretrained(self.base.model, str(source.path), is_trainable=False)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            from expertkit.errors import UsageError

            raise UsageError(f"adapter {source.origin} does not fit base model {self.base.resolved.name}: {exc}",
                             hint="test the adapter with the base model it was trained on") from None
        self.model.eval()
        self.cuda_bytes_delta = (torch.cuda.memory_allocated() - before) if on_cuda else 0
        self.adapter_param_bytes = sum(
            p.numel() * p.element_size() for name, p in self.model.named_parameters() if _is_adapter_param(name)
        )

    def close(self) -> None:
        if self.adapter is not None:
            self.adapter.close()

    def __enter__(self) -> InferenceEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- adapter switch --------------------------------------------------------------------
    @property
    def has_adapter(self) -> bool:
        return self.adapter is not None

    @contextmanager
    def adapter_disabled(self) -> Iterator[None]:
        """Generate with the bare base model inside this block (same weights, no reload)."""
        with self.model.disable_adapter() if self.has_adapter else nullcontext():
            yield

    # -- generation ------------------------------------------------------------------------
    def generate(self, requests: Sequence[str | Request | list[Message]], *, batch_size: int = 8,
                 use_adapter: bool = True, **overrides: Any) -> list[Generation]:
        """Answer each request (same order). ``overrides`` are decoding settings for this call."""
        settings = self.settings.override(**overrides) if overrides else self.settings
        conversations = [as_request(r).to_messages(self.system_prompt) for r in requests]
        prompts = [build_prompt(messages, settings.enable_thinking) for messages in conversations]
        grammars = [self.compiled_grammar(settings, m) for m in conversations] if settings.use_grammar else None
        # with thinking off the prompt closes the think block itself: no reasoning to constrain
        thoughts = ([self.compiled_grammar(settings, m, root=settings.reasoning_rule) for m in conversations]
                    if settings.use_grammar and settings.reasoning_rule and settings.enable_thinking is not False else None)
        # similar lengths together: less padding; results go back to the caller's order
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        with nullcontext() if use_adapter else self.adapter_disabled():
            for start in range(0, len(order), max(1, batch_size)):
                chunk = order[start:start + max(1, batch_size)]
                rows = None if grammars is None else [grammars[i] for i in chunk]
                thought_rows = None if thoughts is None else [thoughts[i] for i in chunk]
                batch = self._generate_batch([prompts[i] for i in chunk], settings, rows, reasoning=thought_rows)
                for i, gen in zip(chunk, batch, strict=True):
                    results[i] = gen
        return [g for g in results if g is not None]

    def _generate_batch(self, prompts: list[str], settings: DecodingSettings, grammars: list[Any] | None,
                        *, reasoning: list[Any] | None = None, min_new_tokens: int | None = None) -> list[Generation]:
        """One padded batch; ``grammars`` holds each row's compiled grammar (None = unconstrained)
        and ``reasoning`` each row's compiled reasoning rule (None = free-text reasoning)."""
        import torch
        from transformers import LogitsProcessorList

        tok = self.tokenizer
        tok.padding_side = "left"  # decoder-only batching: every prompt ends at the same position
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        stop_ids = self.stop_token_ids()
        processors = LogitsProcessorList()
        grammar = None
        if grammars is not None:
            from expertkit.runtime.constrained import GrammarAfterThink

            grammar = GrammarAfterThink(grammars, self.think_vocab(), enable_thinking=settings.enable_thinking,
                                        stop_token_ids=stop_ids, reasoning=reasoning)
            processors.append(grammar)
        config = self._generation_config(settings, stop_ids, min_new_tokens)
        extra: dict[str, Any] = {}
        if settings.stop_sequences and grammar is None:  # with a grammar, the grammar decides the end
            config.stop_strings = list(settings.stop_sequences)
            extra = {"tokenizer": tok}  # generate needs it to match stop strings across token boundaries
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**enc, generation_config=config, logits_processor=processors, **extra)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.batch_sizes_used.add(len(prompts))
        new_tokens = out[:, enc["input_ids"].shape[1]:].tolist()
        return [
            self._finish(ids, settings, stop_ids, elapsed_ms, len(prompts), grammar.grammar_complete(i) if grammar else None)
            for i, ids in enumerate(new_tokens)
        ]

    def _generation_config(self, settings: DecodingSettings, stop_ids: list[int], min_new_tokens: int | None) -> Any:
        import copy

        config = copy.deepcopy(self.base.model.generation_config)
        config.update(max_new_tokens=settings.max_new_tokens, eos_token_id=stop_ids,
                      pad_token_id=self.tokenizer.pad_token_id, min_new_tokens=min_new_tokens,
                      num_beams=1, repetition_penalty=None, **settings.generate_kwargs())
        return config

    def _finish(self, ids: list[int], settings: DecodingSettings, stop_ids: list[int], elapsed_ms: float,
                batch: int, grammar_complete: bool | None) -> Generation:
        stops = set(stop_ids)
        end = next((k for k, t in enumerate(ids) if t in stops), None)
        finish = "stop" if end is not None else "length"
        ids = ids if end is None else ids[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        if prefill(settings.enable_thinking) == OPEN_THINK:  # the prompt opened the think block: part of the text
            text = OPEN_THINK + text
        if grammar_complete is None:
            cut = min((p for p in (text.find(s) for s in settings.stop_sequences) if p >= 0), default=-1)
            if cut >= 0:
                text, finish = text[:cut], "stop_sequence"
        reasoning, answer = split_output(text)
        return Generation(text, answer, reasoning, len(ids), elapsed_ms, finish, batch, grammar_complete)

    def stop_token_ids(self) -> list[int]:
        eos = self.base.model.generation_config.eos_token_id
        ids = [] if eos is None else list(eos) if isinstance(eos, (list, tuple)) else [eos]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    # -- grammar ---------------------------------------------------------------------------
    def compiled_grammar(self, settings: DecodingSettings | None = None, messages: Sequence[Message] = (),
                         root: str = "root") -> Any:
        """The settings' grammar compiled for this tokenizer from rule ``root``, its slots filled
        from ``messages``. Cached per grammar text, so a batch over one schema compiles once."""
        from expertkit.runtime.grammar import compile_grammar

        settings = settings or self.settings
        path = settings.grammar_file
        if path is None or not Path(path).is_file():
            raise GrammarError(
                f"grammar requested but {'no grammar file is configured' if path is None else f'{path} does not exist'}",
                hint="add grammar.gbnf beside manifest.json or set training.decoding.grammar_file",
            )
        text = self._grammar_text(Path(path), settings)
        if settings.grammar_slots:
            text = fill_slots(text, settings.grammar_slots, messages)
        key = (text, root)
        if key not in self._grammar_cache:
            if len(self._grammar_cache) >= _GRAMMAR_CACHE_SIZE:
                self._grammar_cache.pop(next(iter(self._grammar_cache)))  # oldest first
            self._grammar_cache[key] = compile_grammar(text, self._tokenizer_info(), str(path), root)
        return self._grammar_cache[key]

    def _grammar_text(self, path: Path, settings: DecodingSettings) -> str:
        """The grammar file's text (re-read when it changes), its slots and reasoning rule checked once."""
        from expertkit.runtime.grammar import read_grammar

        key = (str(path), path.stat().st_mtime, settings.grammar_slots, settings.reasoning_rule)
        if key not in self._grammar_files:
            text = read_grammar(path)
            check_slots(text, settings.grammar_slots, str(path), settings.reasoning_rule)
            self._grammar_files[key] = text
        return self._grammar_files[key]

    def _tokenizer_info(self) -> Any:
        from expertkit.runtime.grammar import tokenizer_info

        if self._xgr_info is None:
            self._xgr_info = tokenizer_info(self.tokenizer, self.vocab_size(), self.stop_token_ids())
        return self._xgr_info

    def think_vocab(self) -> Any:
        from expertkit.runtime.constrained import ThinkVocab

        if self._think_vocab is None:
            encode = lambda s: self.tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
            self._think_vocab = ThinkVocab(list(self._tokenizer_info().decoded_vocab), self.vocab_size(), encode)
        return self._think_vocab

    def vocab_size(self) -> int:
        """Width of the model's logits (may exceed the tokenizer's vocabulary: padding)."""
        return int(self.base.model.get_output_embeddings().weight.shape[0])


_GRAMMAR_CACHE_SIZE = 256  # compiled grammars kept (one per distinct filled grammar)


def _is_adapter_param(name: str) -> bool:
    return any(key in name for key in ("lora_", "ia3_", "lora_magnitude_vector", "prompt_encoder", "modules_to_save"))
