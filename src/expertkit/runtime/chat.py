"""A chat session on the engine: the conversation, its context budget, who answers, the slash commands.

`ChatSession` holds what `expert-cli chat` (and the SDK's `Runtime.chat`) talk to; it never prints or
reads a terminal. ``send(text)`` yields `Event`s: a routing decision (auto mode, alternatives), notices (turns
dropped to fit the context), reasoning and answer deltas as they are generated, then ``done`` with
the recorded `Turn`. ``command("/experts a+b")`` changes the session and returns a `Reply`; a bad
command or expert raises an `ExpertError` and leaves the session as it was.

Who answers: named experts (``/experts a+b``, resolved by the one constraint resolver; ``/experts
a|b``: alternatives, the router picks one per message, see runtime/gating.py), the router
(``/auto``: per message; it may abstain, then the base model answers) or the base model (``/base``).

Context: the prompt of the next answer (system message, earlier turns, the new message) plus the
answer's ``max_new_tokens`` must fit the model's context window; the oldest turns are dropped
first (for good: the notice is given once). Earlier answers are kept without their think blocks,
as Qwen3's template does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from expertkit.data.chat_format import Message
from expertkit.errors import UsageError
from expertkit.runtime.compose import is_gated
from expertkit.runtime.prompts import Request, build_prompt

NOTICE, ROUTE, REASONING, ANSWER, DONE = "notice", "route", "reasoning", "answer", "done"
EXPERTS, AUTO, BASE = "experts", "auto", "base"
DEFAULT_WINDOW = 2048  # when the model's config does not say

COMMANDS: dict[str, tuple[str, str]] = {  # name -> (argument, what it does)
    "/experts": ("A+B|C", "answer with these installed experts, composed (NAME[@VERSION][:WEIGHT] joined by +); "
                          "alternatives joined by |: the router picks one per message"),
    "/auto": ("", "let the router choose the expert(s) for each message, or the base model"),
    "/base": ("", "answer with the base model alone"),
    "/grammar": ("on|off", "hold answers to the chain's grammar, or decode freely"),
    "/think": ("on|off", "make the model reason first (a think block), or answer directly"),
    "/system": ("TEXT", "set the system message (\\n starts a new line); without TEXT, back to the expert's own"),
    "/reset": ("", "forget the conversation (the system message, experts and switches stay)"),
    "/info": ("", "loaded experts, the chain, decoding settings, memory and context use"),
    "/help": ("", "this list"),
    "/exit": ("", "leave the session"),
}


@dataclass
class Event:
    kind: str  # notice | route | reasoning | answer | done
    text: str = ""
    data: Any = None  # route: the RouteDecision; done: the Turn


@dataclass
class Turn:
    user: str
    answer: str
    reasoning: str | None
    experts: list[str]  # the chain that answered, [] = the base model
    generation: Any = None  # the engine's Generation (tokens, latency, finish_reason)
    route: Any = None  # the RouteDecision in auto mode (a GateDecision for alternatives)


@dataclass
class Reply:
    command: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    exit: bool = False


def parse_command(line: str) -> tuple[str, str]:
    """``"/experts a+b"`` -> ("/experts", "a+b"); an unknown command is a UsageError."""
    head, _, arg = line.strip().partition(" ")
    name = head.lower()
    if name not in COMMANDS:
        raise UsageError(f"unknown command {head!r}", hint="/help lists the commands")
    return name, arg.strip()


def _switch(name: str, arg: str) -> bool:
    value = arg.lower()
    if value not in ("on", "off"):
        raise UsageError(f"{name} takes on or off, not {arg!r}" if arg else f"{name} takes on or off")
    return value == "on"


class ChatSession:
    """One conversation on ``engine`` (an `InferenceEngine`); see the module doc."""

    def __init__(self, engine: Any, *, experts: str | None = None, auto: bool = False, system: str | None = None,
                 max_new_tokens: int | None = None, grammar: bool | None = None, think: bool | None = None,
                 temperature: float | None = None, context_tokens: int | None = None, router_factory: Callable[[], Any] | None = None) -> None:
        self.engine = engine
        self.mode, self.spec = BASE, ""
        self.system = system
        self.max_new_tokens = max_new_tokens
        self.grammar = grammar  # None: as the chain's manifest says
        self.think = think  # None: as the chain's manifest says
        self.temperature = temperature  # None: as the chain's manifest says (0 = greedy)
        self.history: list[Turn] = []
        self.last_experts: list[str] = []
        window = getattr(engine.base.model.config, "max_position_embeddings", None) or DEFAULT_WINDOW
        self.window = min(context_tokens, window) if context_tokens else window
        self._router_factory = router_factory or _registry_router
        self._router: Any = None
        if experts:
            self.use_experts(experts)
        elif auto:
            self.use_auto()

    # -- who answers -----------------------------------------------------------------------------
    def use_experts(self, spec: str) -> Any:
        """Answer with ``spec`` from now on; it is resolved (and attached) first, so a bad one changes nothing."""
        if not spec.strip():
            raise UsageError("/experts needs expert names, e.g. /experts expert-sql or /experts a+b",
                             hint="/base answers with the base model alone")
        spec = spec.strip()
        if is_gated(spec):  # every alternative resolved now; the router is needed from the next message
            from expertkit.runtime.gating import alternatives

            options = alternatives(spec, self.engine.pool.lookup)
            self.router()
            self.mode, self.spec = EXPERTS, spec
            return options
        plan = self.engine.resolve(spec, **self._overrides())
        self.mode, self.spec, self.last_experts = EXPERTS, spec, plan.chain.names
        return plan

    def use_auto(self) -> Any:
        router = self.router()
        self.mode, self.spec = AUTO, ""
        return router

    def router(self) -> Any:
        """The router (built on first need: /auto or alternatives)."""
        if self._router is None:
            self._router = self._router_factory()
        return self._router

    def use_base(self) -> None:
        self.mode, self.spec, self.last_experts = BASE, "", []

    @property
    def who(self) -> str:
        """Who answers, in words: the spec, "auto" or "base model"."""
        return self.spec if self.mode == EXPERTS else "auto" if self.mode == AUTO else "base model"

    # -- commands ----------------------------------------------------------------------------
    def command(self, line: str) -> Reply:
        """Run one slash command (see `COMMANDS`)."""
        name, arg = parse_command(line)
        handler = getattr(self, "_cmd_" + name[1:])
        return handler(name, arg)

    def _cmd_experts(self, name: str, arg: str) -> Reply:
        plan = self.use_experts(arg)
        if isinstance(plan, list):  # alternatives
            return Reply(name, f"experts: one of {' | '.join(a.spec for a in plan)}, chosen by the router for each message",
                         {"alternatives": [{"spec": a.spec, "chain": a.chain.to_dict()} for a in plan]})
        return Reply(name, f"experts: {' + '.join(plan.chain.names)}", {"chain": plan.chain.to_dict()})

    def _cmd_auto(self, name: str, arg: str) -> Reply:
        router = self.use_auto()
        count = len(router.profiles)
        tail = f"{count} installed expert{'s' if count != 1 else ''}" if count else "no expert is installed: the base model answers"
        return Reply(name, f"auto: the router chooses for each message ({tail})", {"experts": [p.name for p in router.profiles]})

    def _cmd_base(self, name: str, arg: str) -> Reply:
        self.use_base()
        return Reply(name, "base model: no expert")

    def _cmd_grammar(self, name: str, arg: str) -> Reply:
        self.grammar = _switch(name, arg)
        return Reply(name, f"grammar {'on' if self.grammar else 'off'}")

    def _cmd_think(self, name: str, arg: str) -> Reply:
        self.think = _switch(name, arg)
        return Reply(name, f"thinking {'on' if self.think else 'off'}")

    def _cmd_system(self, name: str, arg: str) -> Reply:
        # a typed line can't hold a newline, and a schema is one table per line (expert-sql's form)
        self.system = arg.replace("\\n", "\n") or None
        return Reply(name, "system message set" if arg else "system message cleared: the expert's own applies")

    def _cmd_reset(self, name: str, arg: str) -> Reply:
        dropped = len(self.history)
        self.history.clear()
        # only the turns go: a user who set a schema with /system keeps asking about it
        kept = "system message, experts and switches kept" if self.system else "experts and switches kept"
        return Reply(name, f"conversation reset ({dropped} turn{'s' if dropped != 1 else ''} forgotten; {kept})")

    def _cmd_info(self, name: str, arg: str) -> Reply:
        return Reply(name, "", self.info())

    def _cmd_help(self, name: str, arg: str) -> Reply:
        return Reply(name, "", {"commands": [{"command": c, "argument": a, "help": h} for c, (a, h) in COMMANDS.items()]})

    def _cmd_exit(self, name: str, arg: str) -> Reply:
        return Reply(name, "", exit=True)

    def info(self) -> dict[str, Any]:
        """What /info shows: who answers, the chain and its settings, memory, context use."""
        experts = self._experts_now()
        plan = self._plan(experts)[0] if experts is not None and not is_gated(experts) else None
        return {"mode": self.mode, "who": self.who, "per_message": experts is None or is_gated(experts), "base_model": self.engine.base.resolved.name,
                "chain": plan.chain.to_dict() if plan else None, "last_answered_by": self.last_experts,
                **(plan.to_dict() if plan else {"decoding": None}), "system": self.system,
                "attached": self.engine.pool.memory(), "memory": memory(self.engine),
                "turns": len(self.history), "context": {"window": self.window, "used": self.context_used(plan)}}

    def context_used(self, plan: Any = None) -> int:
        """Tokens the conversation so far takes in the prompt."""
        messages = self._messages(None, plan.system_prompt if plan else None)
        thinking = plan.settings.enable_thinking if plan else None
        return len(self.engine.tokenizer.encode(build_prompt(messages, thinking), add_special_tokens=False)) if messages else 0

    # -- talking ---------------------------------------------------------------------------
    def send(self, text: str, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Answer ``text`` in the conversation; see the module doc for the events. Setting ``cancel``
        stops the answer at the next token (what was generated is kept as the turn's answer)."""
        route = None
        experts = self._experts_now()
        if experts is None or is_gated(experts):  # auto or alternatives: the router decides, per message
            from expertkit.runtime.gating import AUTO, choose

            route = choose(experts or AUTO, self.router(), text, self.system, self.engine.pool.lookup)
            experts = route.run
            yield Event(ROUTE, data=route)
        plan, overrides, notice = self._plan(experts)
        if notice:
            yield Event(NOTICE, notice)
        messages, dropped = self._fit(text, plan)
        if dropped:
            yield Event(NOTICE, f"dropped the {dropped} oldest turn{'s' if dropped != 1 else ''} to stay within "
                                f"the model's context of {self.window} tokens")
        gen = None
        for delta in self.engine.stream(Request(messages=tuple(messages)), experts=experts, cancel=cancel, **overrides):
            if delta.generation is not None:
                gen = delta.generation
            elif delta.text:
                yield Event(delta.channel, delta.text)
        turn = Turn(text, gen.answer, gen.reasoning, list(gen.experts), gen, route)
        self.last_experts = turn.experts
        if turn.answer or gen.finish_reason != "cancelled":
            self.history.append(turn)
        yield Event(DONE, data=turn)

    def ask(self, text: str) -> Turn:
        """``send`` without the events: the recorded turn."""
        turn = None
        for event in self.send(text):
            if event.kind == DONE:
                turn = event.data
        return turn

    def _experts_now(self) -> str | list[str] | None:
        """What the engine is asked for: the spec (alternatives: route first), [] (base) or None (route first)."""
        return self.spec if self.mode == EXPERTS else None if self.mode == AUTO else []

    def _plan(self, experts: str | list[str]) -> tuple[Any, dict[str, Any], str | None]:
        """(the engine's `Resolved`, the overrides it ran with, a notice): /grammar on for a chain
        without a grammar decodes freely, and says so."""
        overrides = self._overrides()
        plan = self.engine.resolve(experts, **overrides)
        if not self.grammar or plan.settings.grammar_file is not None:
            return plan, overrides, None
        overrides.pop("use_grammar")
        notice = f"{'+'.join(plan.chain.names) or 'the base model'} has no grammar: answering without one"
        return self.engine.resolve(experts, **overrides), overrides, notice

    def _overrides(self) -> dict[str, Any]:
        given = {"max_new_tokens": self.max_new_tokens, "enable_thinking": self.think, "use_grammar": self.grammar,
                 "temperature": self.temperature}
        return {k: v for k, v in given.items() if v is not None}

    def _messages(self, text: str | None, default_system: str | None) -> list[Message]:
        system = self.system if self.system is not None else default_system
        messages: list[Message] = [{"role": "system", "content": system}] if system else []
        for turn in self.history:
            messages += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": turn.answer}]
        if text is not None:
            messages.append({"role": "user", "content": text})
        return messages

    def _fit(self, text: str, plan: Any) -> tuple[list[Message], int]:
        """The messages for the next answer, the oldest turns dropped until it fits; (messages, dropped)."""
        budget = self.window - plan.settings.max_new_tokens
        dropped = 0
        while True:
            messages = self._messages(text, plan.system_prompt)
            used = len(self.engine.tokenizer.encode(build_prompt(messages, plan.settings.enable_thinking), add_special_tokens=False))
            if used <= budget:
                return messages, dropped
            if not self.history:
                raise UsageError(f"the message ({used} prompt tokens) plus the answer's {plan.settings.max_new_tokens} "
                                 f"tokens does not fit the model's context of {self.window} tokens",
                                 hint="shorten the message or the system message, or allow fewer new tokens")
            self.history.pop(0)
            dropped += 1


def memory(engine: Any) -> dict[str, Any]:
    """The model's weights (base + attached adapters) and the process's peak resident set."""
    import resource

    params = sum(p.numel() * p.element_size() for p in engine.base.model.parameters())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"model_param_mb": round(params / 2**20, 1), "peak_rss_mb": round(peak_kb / 1024, 1)}


def _registry_router() -> Any:
    from expertkit.runtime.routing import Router

    return Router.from_registry()  # the embedder loads without a progress bar (models/embedding.py)
