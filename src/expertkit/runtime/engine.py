"""The inference engine: one base model, many experts (a pool), requests that name their experts.

Tests, benches, ask and (later) chat/route/serve all generate through `InferenceEngine`, so the
prompt template, thinking switch, decoding settings, grammar and composition rules are the same
everywhere. A request names its experts (``experts=["expert-sql"]``, ``"a+b:0.5"``, ``[]`` = the
base model alone); without a name it runs with the expert the engine was built with
(`from_manifest`), as is, without constraint resolution. Named experts go through the one
resolver (`compose.resolve`) and attach from the registry when needed (`pool.ExpertPool`).

`stream_batch` is the core: it groups rows into batches (same decoding settings; on the lean
decoder — the default backend — rows with any chains share a batch; on the HF fallback rows for
different single LoRA experts share one through PEFT's ``adapter_names``, other chains are
grouped per chain), runs each through `run_batch` (the one backend seam), and yields text deltas
per row with the think block kept apart. `stream` is one request; `generate` collects the final
`Generation`s of the same core. ``cancel`` (a `threading.Event`) stops decoding at the next step.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import Message
from expertkit.manifest.layout import pick_base_model
from expertkit.runtime.adapter_source import AdapterSource, open_adapter
from expertkit.runtime.compose import Chain, Link, chain_settings, info_from_manifest, resolve
from expertkit.runtime.grammar_cache import GrammarCache
from expertkit.runtime.grammar_slots import REASONING
from expertkit.runtime.pool import ExpertPool, Key
from expertkit.runtime.prompts import OPEN_THINK, Request, as_request, build_prompt, prefill, split_output
from expertkit.runtime.settings import DecodingSettings, expert_settings
from expertkit.runtime.streaming import RowText, run_in_thread

Experts = str | Sequence[str] | None  # "a+b:0.5", ["a", "b:0.5"], [] = base, None = the engine's default


@dataclass
class Generation:
    """One answer. ``text`` is everything generated (think block included, stop token excluded)."""

    text: str
    answer: str
    reasoning: str | None
    tokens: int  # generated tokens, stop token excluded
    latency_ms: float  # wall time of the batch this answer was generated in
    finish_reason: str  # "stop" | "length" | "stop_sequence" | "cancelled"
    batch_size: int
    grammar_complete: bool | None = None  # None when no grammar was applied
    experts: list[str] = field(default_factory=list)  # the chain it ran with, in application order
    backend: str = ""  # what decoded it: "decoder" or "hf" (the fallback; see decoder_backend.py)


@dataclass
class Delta:
    """A piece of one row's output; the row's last event carries its `Generation` (text may be "")."""

    row: int
    channel: str  # "reasoning" | "answer" | "" (the closing event)
    text: str
    generation: Generation | None = None


@dataclass
class Resolved:
    """What a request runs with: the chain and its decoding settings (shown by `ask --json`)."""

    chain: Chain
    settings: DecodingSettings
    system_prompt: str | None
    decided_by: dict[str, str | None]
    overridden: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {"chain": self.chain.to_dict(), "max_chain": self.chain.max_chain,
                "decoding": {"max_new_tokens": s.max_new_tokens, "enable_thinking": s.enable_thinking,
                             "use_grammar": s.use_grammar, "grammar_file": str(s.grammar_file) if s.grammar_file else None,
                             "temperature": s.temperature, "decided_by": self.decided_by, "overridden": self.overridden}}


@dataclass
class Batch:
    """What the backend runs: prompts as token ids, each row's chain, one set of settings."""

    prompts: list[list[int]]
    keys: list[Key]
    settings: DecodingSettings
    grammars: list[Any] | None = None  # compiled grammar per row
    reasoning: list[Any] | None = None  # compiled reasoning rule per row
    after_think: list[Any] | None = None  # per row: think text -> compiled answer grammar (slots reading it)
    min_new_tokens: int | None = None
    on_token: Callable[[int, int], bool] | None = None  # (row, token) -> keep going; stop tokens not passed
    cancel: threading.Event | None = None


@dataclass
class _Row:
    index: int
    prompt_ids: list[int]
    plan: Resolved
    grammar: Any = None
    reasoning: Any = None
    after_think: Any = None


class InferenceEngine:
    """Base model + expert pool; `stream_batch` is the core (see the module doc)."""

    def __init__(self, base: Any, settings: DecodingSettings, *, system_prompt: str | None = None,
                 max_experts: int | None = None, max_bytes: int | None = None, backend: str = "decoder") -> None:
        self.base = base  # LoadedBase
        self.tokenizer = base.tokenizer
        self.settings = settings  # for the base model and experts without a manifest
        # the expert `settings` are from (from_manifest: a base run under them compares like with like); None: defaults
        self.settings_from: str | None = None
        self.system_prompt = system_prompt
        self.pool = ExpertPool(base, max_experts=max_experts, max_bytes=max_bytes)
        self.grammars = GrammarCache(self.tokenizer, self.vocab_size(), self.stop_token_ids)
        self.default_experts: tuple[str, ...] = ()
        self.decoder: Any = None  # the fast backend, with backend="decoder" (see decoder_backend.py)
        if backend == "decoder":
            from expertkit.runtime.decoder_backend import make_decoder

            self.decoder = make_decoder(base, self.tokenizer.pad_token_id or 0)
            if self.decoder is not None:
                self.pool.mirrors.append(self.decoder)
                self.pool.lazy_peft = True  # the decoder runs every chain: PEFT only if HF is ever needed
        elif backend != "hf":
            from expertkit.errors import UsageError

            raise UsageError(f"backend {backend!r} is not known (expected hf or decoder)")

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest: Any, adapter: str | Path | AdapterSource | None = None, *,
                      settings: DecodingSettings | None = None, model: str | None = None, device: str = "auto",
                      dtype: Any = None, backend: str = "decoder") -> InferenceEngine:
        """Load the manifest's base model (``model`` picks among base_models) and attach ``adapter``
        as the expert the manifest describes; ``settings`` default to `expert_settings`."""
        from expertkit.manifest.loader import LoadedManifest, load_manifest
        from expertkit.models.loading import load_base

        loaded = manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest)
        spec = pick_base_model(loaded, model)
        opened = not isinstance(adapter, AdapterSource) and adapter is not None
        source = open_adapter(adapter) if opened else adapter
        try:
            base = load_base(spec, device=device, dtype=dtype)
            settings = settings or expert_settings(loaded, source)
            system = loaded.model.training.dataset.system_prompt
            engine = cls(base, settings, system_prompt=system, backend=backend)
            engine.settings_from = loaded.model.name
            if source is not None:
                m = loaded.model
                engine.pool.attach(source, name=m.name, info=info_from_manifest(m), settings=settings, system_prompt=system).owns_source = opened
                engine.default_experts = (m.name,)
            return engine
        except BaseException:
            if opened and source is not None:
                source.close()
            raise

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> InferenceEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- experts -------------------------------------------------------------------------------
    def attach(self, what: str | Path | AdapterSource, **kwargs: Any) -> Any:
        """Attach an expert to the pool (see `ExpertPool.attach`)."""
        return self.pool.attach(what, **kwargs)

    def detach(self, name: str) -> None:
        self.pool.detach(name)
        self.default_experts = tuple(n for n in self.default_experts if n != name)

    def resolve(self, experts: Experts = None, **overrides: Any) -> Resolved:
        """The chain and decoding settings a request naming ``experts`` runs with."""
        if experts is None:  # the engine's own expert, as built: no constraint resolution
            pool = self.pool
            chain = Chain(tuple(Link(n, pool.get(n).version, 1.0, pool.get(n).info.load_order) for n in self.default_experts))
        elif isinstance(experts, str) and not experts.strip() or not isinstance(experts, str) and not list(experts):
            chain = Chain()
        else:
            chain = resolve(experts, self.pool.lookup)
            self.pool.ensure(chain)
        self.pool.check(chain.key)
        members = [(n, self.pool.get(n).settings, self.pool.get(n).system_prompt) for n in chain.names]
        cs = chain_settings(members, self.settings, self.system_prompt, self.settings_from)
        settings = cs.settings.override(**overrides) if overrides else cs.settings
        return Resolved(chain, settings, cs.system_prompt, cs.decided_by, sorted(k for k, v in overrides.items() if v is not None))

    # -- generation ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[str | Request | list[Message]], *, experts: Experts = None, batch_size: int = 8,
                 cancel: threading.Event | None = None, min_new_tokens: int | None = None, **overrides: Any) -> list[Generation]:
        """Answer each request (same order); ``overrides`` are decoding settings for this call."""
        out: list[Generation | None] = [None] * len(requests)
        for delta in self.stream_batch(requests, experts=experts, batch_size=batch_size, cancel=cancel,
                                       min_new_tokens=min_new_tokens, deltas=False, **overrides):
            if delta.generation is not None:
                out[delta.row] = delta.generation
        return [g for g in out if g is not None]

    def stream(self, request: str | Request | list[Message], *, experts: Experts = None,
               cancel: threading.Event | None = None, **overrides: Any) -> Iterator[Delta]:
        """Text deltas of one request; the last one carries the `Generation`."""
        return self.stream_batch([request], experts=experts, batch_size=1, cancel=cancel, **overrides)

    def stream_batch(self, requests: Sequence[str | Request | list[Message]], *, experts: Experts = None,
                     batch_size: int = 8, cancel: threading.Event | None = None, min_new_tokens: int | None = None,
                     deltas: bool = True, stop_row: Callable[[int], bool] | None = None,
                     **overrides: Any) -> Iterator[Delta]:
        """The core: deltas of every request (``row`` = its index), batch after batch.
        ``stop_row(index)`` true stops that request alone (a server's client went away)."""
        rows = self._rows(requests, experts, overrides)
        cancel = cancel if cancel is not None else threading.Event()
        for batch in self._batches(rows, max(1, batch_size), min_new_tokens):
            yield from self._stream_batch(batch, cancel, min_new_tokens, deltas, stop_row)

    def _rows(self, requests: Sequence[Any], experts: Experts, overrides: dict[str, Any]) -> list[_Row]:
        plans: dict[Any, Resolved] = {}
        rows = []
        for i, item in enumerate(requests):
            req = as_request(item)
            spec = req.experts if req.experts is not None else experts
            key = spec if spec is None or isinstance(spec, str) else tuple(spec)
            if key not in plans:
                plans[key] = self.resolve(spec, **overrides)
            plan = plans[key]
            s = plan.settings
            messages = req.to_messages(plan.system_prompt)
            ids = self.tokenizer.encode(build_prompt(messages, s.enable_thinking), add_special_tokens=False)
            grammar = self.grammars.compiled(s, messages) if s.use_grammar else None
            # with thinking off the prompt closes the think block itself: no reasoning to constrain
            thinks = s.use_grammar and s.reasoning_rule and s.enable_thinking is not False
            reasoning = self.grammars.compiled(s, messages, root=s.reasoning_rule) if thinks else None
            rows.append(_Row(i, ids, plan, grammar, reasoning, self._after_think(s, messages)))
        return rows

    def _after_think(self, s: DecodingSettings, messages: list[Message]) -> Callable[[str], Any] | None:
        """When slots read the think block: think text -> the answer's grammar filled from it too."""
        if not (s.use_grammar and s.enable_thinking is not False and any(slot.source == REASONING for slot in s.grammar_slots)):
            return None
        return lambda think: self.grammars.compiled(s, [*messages, {"role": REASONING, "content": think}])

    def _batches(self, rows: list[_Row], size: int, min_new_tokens: int | None) -> Iterator[list[_Row]]:
        """Rows with the same settings; chains mixed where the backend can (the decoder: any; PEFT:
        single LoRA experts), other chains apart; similar lengths together."""
        groups: dict[Any, list[_Row]] = {}
        for row in rows:
            key = row.plan.chain.key
            kind = "mixed" if self.decoder is not None or self.pool.mixable(key) else key
            groups.setdefault((row.plan.settings, kind, row.reasoning is not None, row.after_think is not None), []).append(row)
        for members in groups.values():
            members.sort(key=lambda r: len(r.prompt_ids))
            for start in range(0, len(members), size):
                yield members[start:start + size]

    def _stream_batch(self, rows: list[_Row], cancel: threading.Event, min_new_tokens: int | None,
                      deltas: bool, stop_row: Callable[[int], bool] | None = None) -> Iterator[Delta]:
        settings = rows[0].plan.settings
        decode = lambda ids: self.tokenizer.decode(ids, skip_special_tokens=False)  # noqa: E731
        texts = [RowText(decode, prefill(settings.enable_thinking) if prefill(settings.enable_thinking) == OPEN_THINK else "",
                         settings.stop_sequences) for _ in rows]
        batch = Batch([r.prompt_ids for r in rows], [r.plan.chain.key for r in rows], settings,
                      None if rows[0].grammar is None else [r.grammar for r in rows],
                      None if rows[0].reasoning is None else [r.reasoning for r in rows],
                      None if rows[0].after_think is None else [r.after_think for r in rows], min_new_tokens, cancel=cancel)

        def work(emit: Callable[[Any], None]) -> Any:
            if deltas:
                batch.on_token = lambda row, token: (emit((row, token)), not cancel.is_set()
                                                     and not (stop_row is not None and stop_row(rows[row].index)))[1]
            started = time.perf_counter()
            outs = self.run_batch(batch)
            return outs, (time.perf_counter() - started) * 1000, self.backend_for(batch)

        for kind, item in run_in_thread(work, cancel):
            if kind == "item":
                row, token = item
                for channel, text in texts[row].push(token):
                    yield Delta(rows[row].index, channel, text)
                continue
            outs, elapsed, backend = item
            for i, (ids, complete, cancelled) in enumerate(outs):
                gen = self._finish(ids, settings, elapsed, len(rows), complete, cancelled, rows[i].plan.chain.names)
                gen.backend = backend
                for channel, text in texts[i].finish(gen.reasoning, gen.answer) if deltas else ():
                    yield Delta(rows[i].index, channel, text)
                yield Delta(rows[i].index, "", "", gen)

    # -- the backend seam ----------------------------------------------------------------------
    def run_batch(self, batch: Batch) -> list[tuple[list[int], bool | None, bool]]:
        """Run one batch; per row (generated ids, grammar complete or None, cancelled).

        This is the one place a model decodes: the lean `Decoder` when the engine has one and it
        can honour the batch (`decoder_backend.usable`), else transformers ``generate``
        + PEFT (`hf_backend.run_hf`), the reference both are tested against."""
        if self.backend_for(batch) == "decoder":
            from expertkit.runtime.decoder_backend import run_decoder

            return run_decoder(self, self.decoder, batch)
        from expertkit.runtime.hf_backend import run_hf

        return run_hf(self, batch)

    def backend_for(self, batch: Batch) -> str:
        """Which backend `run_batch` runs ``batch`` on: "decoder" or "hf"."""
        from expertkit.runtime.decoder_backend import usable

        return "decoder" if self.decoder is not None and usable(self, batch) else "hf"

    @contextmanager
    def step_hook(self, hook: Callable[[], None]) -> Iterator[None]:
        """Call ``hook()`` before every forward pass of either backend (the prefill, then one per token)."""
        handle = self.base.model.register_forward_pre_hook(lambda *_: hook())
        if self.decoder is not None:
            self.decoder.step_hooks.append(hook)
        try:
            yield
        finally:
            handle.remove()
            if self.decoder is not None:
                self.decoder.step_hooks.remove(hook)

    def _finish(self, ids: list[int], settings: DecodingSettings, elapsed_ms: float, batch: int,
                grammar_complete: bool | None, cancelled: bool, experts: list[str]) -> Generation:
        stops = set(self.stop_token_ids())
        end = next((k for k, t in enumerate(ids) if t in stops), None)
        finish = "cancelled" if cancelled else "stop" if end is not None else "length"
        ids = ids if end is None else ids[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        if prefill(settings.enable_thinking) == OPEN_THINK:  # the prompt opened the think block: part of the text
            text = OPEN_THINK + text
        if grammar_complete is None:
            cut = min((p for p in (text.find(s) for s in settings.stop_sequences) if p >= 0), default=-1)
            if cut >= 0:
                text, finish = text[:cut], "stop_sequence"
        reasoning, answer = split_output(text)
        return Generation(text, answer, reasoning, len(ids), elapsed_ms, finish, batch, grammar_complete, list(experts))

    def generation_config(self, settings: DecodingSettings, min_new_tokens: int | None) -> Any:
        config = copy.deepcopy(self.base.model.generation_config)
        config.update(max_new_tokens=settings.max_new_tokens, eos_token_id=self.stop_token_ids(),
                      pad_token_id=self.tokenizer.pad_token_id, min_new_tokens=min_new_tokens,
                      num_beams=1, repetition_penalty=None, **settings.generate_kwargs())
        return config

    def stop_token_ids(self) -> list[int]:
        eos = self.base.model.generation_config.eos_token_id
        ids = [] if eos is None else list(eos) if isinstance(eos, (list, tuple)) else [eos]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    # -- grammar ---------------------------------------------------------------------------
    def compiled_grammar(self, settings: DecodingSettings | None = None, messages: Sequence[Message] = (),
                         root: str = "root") -> Any:
        """The settings' grammar compiled for this tokenizer (see `GrammarCache.compiled`)."""
        return self.grammars.compiled(settings or self.settings, messages, root)

    def think_vocab(self) -> Any:
        return self.grammars.think_vocab()

    def vocab_size(self) -> int:
        """Width of the model's logits (may exceed the tokenizer's vocabulary: padding)."""
        return int(self.base.model.get_output_embeddings().weight.shape[0])
