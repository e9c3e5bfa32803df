"""Gating: a spec of alternatives (``expert-sql|expert-json``), one chosen per request by the router.

Request-level top-1 mixture of experts. Composing experts (``a+b``) sums their adapters and lets
the last one's decoding settings decide every request, which costs each expert much of its
accuracy; alternatives are never composed: per request the router (`runtime/routing.py`, the
scorer of ``auto``) scores the named candidates alone, and the chosen alternative runs by itself
with its own decoding settings (grammar, thinking switch, system prompt). When the router is right,
every member keeps its own accuracy.

``|`` binds looser than ``+``: ``a+b|c`` is the chain a+b or c (`compose.split_alternatives` parses
it). Each alternative is resolved by the one constraint resolver (`compose.resolve`) exactly as a
named chain — ``requires``, ``incompatible_with``, ``load_order``, ``max_chain`` — and all of them
before any is scored, so a spec that can't work fails at once, on every request alike, not only
on the requests that would pick its bad alternative. Experts incompatible with each other may be
alternatives: they never run together.

The choice:
- an alternative's score is the *lowest* score of the experts it names (requirements it pulls in
  don't count): a chain is for requests that need every one of its members;
- the best alternative answers when its score is above zero, even below the threshold of
  ``auto``: that threshold decides *whether* an expert applies at all, which the user answered by
  naming the candidates; here the router only decides *which*;
- ties (equal to 2 decimals) go to the alternative named first: the user's order, not a manifest's
  ``routing.priority``, since the user wrote the spec for this request;
- no alternative above zero — each was kept out (an ``exclude_keywords`` match, or a request
  nearer the base model's prompts than the expert's own) or nothing in the request points to
  any: the base model answers, and the decision says so (``fallback``). Running a candidate
  anyway would hold a request it was not made for to its grammar and system prompt (a haiku
  forced into SQL), which is confidently wrong; the base model's plain answer is the honest one.

`choose` is the one entry point of every front end (ask, chat, the SDK, serve) for specs routed
per request: ``"auto"`` (the router over every expert it knows) and alternatives alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expertkit.errors import CompositionError, ExpertError
from expertkit.runtime.compose import Chain, is_gated, parse_spec, resolve, split_alternatives
from expertkit.runtime.routing import ExpertScore, RouteDecision

AUTO = "auto"
__all__ = ["AUTO", "Alternative", "GateDecision", "alternatives", "choose", "is_routed"]


@dataclass(frozen=True)
class Alternative:
    spec: str  # as written: "expert-sql:0.7+expert-json"
    named: tuple[str, ...]  # the experts it names, in spec order (what its score is taken over)
    chain: Chain  # resolved under every constraint


@dataclass
class GateDecision(RouteDecision):
    """A `RouteDecision` over alternatives: ``experts`` is the chosen chain ([] = the base model)."""

    spec: str = ""
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # spec, chain, score, per-member scores
    chosen: str | None = None  # the chosen alternative as written; None = the base model
    fallback: str | None = None  # why the base model answers, when it does

    @property
    def run(self) -> str | list[str]:
        """The chosen alternative as written (its weights and versions kept), or [] (the base model)."""
        return self.chosen if self.chosen is not None else []

    def summary(self) -> str:
        among = " | ".join(a["spec"] for a in self.alternatives)
        if self.chosen is None:
            return f"base model ({self.fallback})"
        return f"{self.chosen} (chosen among {among}, score {self.confidence:.2f})"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["gate"] = {"spec": self.spec, "chosen": self.chosen, "fallback": self.fallback,
                       "alternatives": self.alternatives}
        return out


def is_routed(spec: object) -> bool:
    """True when ``spec`` is chosen per request by the router: ``"auto"`` or alternatives (``a|b``)."""
    return spec == AUTO or is_gated(spec)


def alternatives(spec: str, lookup: Callable[[str, str | None], Any]) -> list[Alternative]:
    """Every alternative of ``spec``, resolved (see the module doc); errors name the alternative."""
    out = []
    for text in split_alternatives(spec):
        try:
            chain = resolve(text, lookup)
        except ExpertError as exc:
            raise CompositionError(f"alternative {text!r} of {spec!r}: {exc.message}", hint=exc.hint) from None
        out.append(Alternative(text, tuple(dict.fromkeys(w.name for w in parse_spec(text))), chain))
    return out


def choose(spec: str, router: Any, prompt: str, system: str | None,
           lookup: Callable[[str, str | None], Any]) -> RouteDecision:
    """Who answers a request for ``spec``: ``"auto"`` -> the router's decision; ``a|b`` -> a
    `GateDecision`. ``lookup`` is the resolver's (the engine's ``pool.lookup``); ``.run`` of the
    answer is what to hand the engine."""
    if spec == AUTO:
        return router.route(prompt, system)
    options = alternatives(spec, lookup)
    names = list(dict.fromkeys(n for alt in options for n in alt.named))
    scores = {s.name: s for s in router.score(prompt, system, names)}
    for alt in options:  # a candidate the router has no profile of (attached, not installed) scores 0
        for link in alt.chain.links:
            if link.name in alt.named and link.name not in scores:
                scores[link.name] = ExpertScore(link.name, link.version, 0.0,
                                                notes=["the router has no profile of it (not installed): scored 0"])
    rows = [{"spec": alt.spec, "chain": alt.chain.names, "score": round(min(scores[n].score for n in alt.named), 4),
             "members": {n: round(scores[n].score, 4) for n in alt.named}} for alt in options]
    best = min(range(len(rows)), key=lambda i: (-round(rows[i]["score"], 2), i))
    embedder = router.embedder.id if getattr(router, "embedder", None) is not None else None
    ordered = sorted(scores.values(), key=lambda s: (-round(s.score, 2), names.index(s.name)))
    top = min(scores[n].score for n in options[best].named)
    if top <= 0:
        why = f"no alternative of {spec!r} scored above 0 for this request"
        return GateDecision([], 1.0, ordered, 0.0, embedder, spec, rows, None, why)
    return GateDecision(options[best].chain.names, top, ordered, 0.0, embedder, spec, rows, options[best].spec)
