"""The Python SDK: ``from expertkit import Runtime, Expert``.

`Runtime` answers prompts with installed experts (named, composed as ``"a+b"``, chosen by the
router with ``"auto"`` or among alternatives with ``"a|b"``, or none: the base model) through the same engine, resolver and router as
`expert-cli ask`, `chat`, `route` and `serve`. It loads the base model on first use, from the
first experts it is asked for (see `runtime.launch`), and attaches the others as they are named.
`Expert.load` reads and verifies a ``.expert`` package (digests, manifest, tensors, signature and
trust, with install's policy) without installing it.

Everything is read from ``EXPERT_HOME`` (default ``~/.expert``). Errors are `expertkit.errors`
exceptions (`ExpertError` and subclasses), each with a message and, where there is one, a hint.
Nothing here imports torch until a model is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from expertkit.errors import ManifestError
from expertkit.runtime.compose import is_gated

AUTO = "auto"  # = runtime.gating.AUTO (not imported: the router module loads numpy, and `import expertkit` must not)
ExpertsArg = str | Sequence[str] | None  # "a+b:0.5", ["a", "b"], "auto", "a|b", None or [] = the base model


@dataclass
class Completion:
    """One answer and how it was made. ``str(completion)`` is the answer."""

    text: str  # the answer (the think block apart, in ``reasoning``)
    reasoning: str | None
    experts: list[str]  # the chain that answered, in application order; [] = the base model
    tokens: int
    finish_reason: str  # stop | length | stop_sequence | cancelled
    latency_ms: float
    route: Any = None  # the router's `RouteDecision` when experts="auto"; a `GateDecision` for "a|b"

    def __str__(self) -> str:
        return self.text


class Runtime:
    """Installed experts on one base model, loaded on first use.

    ``device``: auto, cpu or cuda; ``model``: the base model when no expert is named (default: the
    installed experts' base, else the default model); ``backend``: the engine's decoding backend
    (None: the engine's default). Use it as a context manager, or call `close`, to free the model.
    """

    def __init__(self, *, device: str = "auto", model: str | None = None, backend: str | None = None) -> None:
        self.device = device
        self.model = model
        self.backend = backend
        self._engine: Any = None
        self._router: Any = None

    # -- the engine ------------------------------------------------------------------------------
    def engine_for(self, experts: ExpertsArg = None) -> Any:
        """The `InferenceEngine` (loaded now, on the base model ``experts`` need, when not yet loaded)."""
        if self._engine is None:
            from expertkit.runtime.launch import open_engine

            named = None if experts == AUTO else experts
            self._engine = open_engine(named, model=self.model, device=self.device, backend=self.backend)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering ---------------------------------------------------------------------------------
    @overload
    def generate(self, prompt: str, *, experts: ExpertsArg = None, system: str | None = None,
                 stream: Literal[False] = False, **settings: Any) -> str: ...

    @overload
    def generate(self, prompt: str, *, experts: ExpertsArg = None, system: str | None = None,
                 stream: Literal[True], **settings: Any) -> Iterator[str]: ...

    def generate(self, prompt: str, *, experts: ExpertsArg = None, system: str | None = None,
                 stream: bool = False, **settings: Any) -> str | Iterator[str]:
        """The answer to ``prompt`` (a user message), or with ``stream=True`` an iterator of its text
        as it is generated (closing it early stops decoding).

        ``experts``: installed ``NAME[@VERSION]``s composed as ``"a+b"`` (``:WEIGHT`` each) or a list,
        ``"auto"`` (the router chooses; it may choose the base model), alternatives ``"a|b"`` (the router
        picks one per request, which runs alone with its own settings; see runtime/gating.py), None or
        ``[]`` (the base model).
        ``system``: the system message (default: the expert's own). ``settings``: decoding overrides
        (max_new_tokens, temperature, top_p, top_k, enable_thinking, use_grammar, stop_sequences...).
        """
        if stream:
            return self._stream_text(prompt, experts, system, settings)
        return self.complete(prompt, experts=experts, system=system, **settings).text

    def complete(self, prompt: str, *, experts: ExpertsArg = None, system: str | None = None,
                 **settings: Any) -> Completion:
        """Like `generate`, with the whole result: reasoning, the chain, tokens, finish reason, route."""
        gen, route = None, None
        for kind, item in self._events(prompt, experts, system, settings):
            if kind == "done":
                gen, route = item
        return Completion(gen.answer, gen.reasoning, list(gen.experts), gen.tokens, gen.finish_reason,
                          round(gen.latency_ms, 1), route)

    def _stream_text(self, prompt: str, experts: ExpertsArg, system: str | None, settings: dict[str, Any]) -> Iterator[str]:
        for kind, item in self._events(prompt, experts, system, settings):
            if kind == "answer":
                yield item

    def _events(self, prompt: str, experts: ExpertsArg, system: str | None,
                settings: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        from expertkit.runtime.gating import choose
        from expertkit.runtime.prompts import Request

        engine = self.engine_for(experts)
        route = None
        if experts == AUTO or is_gated(experts):
            route = choose(experts, self._get_router(), prompt, system, engine.pool.lookup)
            experts = route.run
        chain = [] if experts is None else experts
        for delta in engine.stream(Request(input=prompt, system=system), experts=chain, **settings):
            if delta.generation is not None:
                yield "done", (delta.generation, route)
            elif delta.channel == "answer" and delta.text:
                yield "answer", delta.text

    # -- routing and chat --------------------------------------------------------------------------
    def route(self, prompt: str, *, system: str | None = None, top_k: int = 1) -> Any:
        """The router's `RouteDecision` for ``prompt``: ``.experts`` ([] = the base model), ``.confidence``,
        ``.scores`` (per expert: score and evidence). The router is built once, from the installed experts."""
        return self._get_router().route(prompt, system, top_k=top_k)

    def chat(self, experts: ExpertsArg = None, **options: Any) -> Any:
        """A `ChatSession` (multi-turn, context kept within the model's window; see runtime/chat.py):
        ``experts`` as for `generate`; ``options``: system, max_new_tokens, grammar, think, temperature,
        context_tokens."""
        from expertkit.runtime.chat import ChatSession

        engine = self.engine_for(experts)
        spec = None if experts in (None, AUTO) else experts if isinstance(experts, str) else "+".join(experts)
        return ChatSession(engine, experts=spec or None, auto=experts == AUTO, router_factory=self._get_router, **options)

    def _get_router(self) -> Any:
        if self._router is None:
            from expertkit.runtime.routing import Router

            self._router = Router.from_registry()  # the embedder loads without a progress bar
        return self._router

    def attach(self, expert: Expert) -> str:
        """Attach a loaded (verified) package that is not installed; name it in `generate` afterwards."""
        if self._engine is None:  # its base model, unless the runtime was given one
            from expertkit.runtime.launch import open_engine

            self._engine = open_engine(model=self.model or expert.manifest.base_models[0], device=self.device,
                                       backend=self.backend)
        return self._engine.attach(expert.path).name


@dataclass
class Expert:
    """A verified ``.expert`` package, read but not installed (`Expert.load`)."""

    path: Path
    raw_manifest: dict[str, Any]
    manifest: Any  # the validated `expertkit.manifest.model.Manifest`
    report: Any  # the `VerifyReport`: every check by name, signed, signer, trusted
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path, *, allow_unsigned: bool = False, trust: bool = False) -> Expert:
        """Read ``path`` and verify it as `install` does: a failed integrity check is always refused
        (IntegrityError); an unsigned package needs ``allow_unsigned``; a signer not in trusted_keys
        needs ``trust`` (nothing is recorded: the key is not added to trusted_keys)."""
        from expertkit.manifest.loader import parse_manifest
        from expertkit.packaging.reader import open_package
        from expertkit.packaging.verify import verify_contents
        from expertkit.registry.install import Options, apply_policy

        path = Path(path)
        pkg = open_package(path)
        report = verify_contents(pkg, sidecar=path.with_name(path.name + ".sha256"))
        warnings = apply_policy(report, Options(allow_unsigned=allow_unsigned, trust=trust))
        if report.manifest is None:
            raise ManifestError(f"{path}: the package has no valid manifest.json")
        model, _, _ = parse_manifest(report.manifest, None, check_files=False)
        return cls(path, report.manifest, model, report, warnings)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def kind(self) -> str:
        """The adapter type: lora, dora, ia3 or prompt_tuning."""
        return self.manifest.training.config.adapter_type

    @property
    def description(self) -> str:
        return self.manifest.description

    @property
    def base_model(self) -> str:
        return self.manifest.base_models[0].name

    @property
    def signer(self) -> str | None:
        """The key id of the valid signature, None when unsigned."""
        return self.report.signer

    @property
    def trusted(self) -> bool:
        return self.report.trusted
