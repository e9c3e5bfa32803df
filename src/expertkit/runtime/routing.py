"""The router: score every installed expert for a prompt, choose a chain or abstain (the base model).

    router = Router.from_registry()                 # once: manifests, routing/ members, the embedder
    decision = router.route("How many users signed up in May?", system="Dialect: sqlite\\n...")
    decision.experts      # ["expert-sql"], or [] when the base model should answer
    decision.confidence   # 0..1: the chosen expert's score, or 1 - the best score when abstaining
    decision.scores       # per expert: score and evidence (keywords, capabilities, similarity)

Per request the router embeds the prompt once (`routing_text`, the same rule as package time) and
takes dot products with what was loaded; nothing of an expert is recomputed per request.

Score of an expert, 0..1: each signal gives evidence v in 0..1 (keywords and capability terms
saturate in the number of hits; similarity to the description and to the nearest training
prompts is a cosine mapped from a band to 0..1), and the evidence adds up like independent
indications, score = 1 - prod(1 - w * v). So a signal that is missing (a package without routing/,
a router without an embedder) or low never lowers a score: the router still routes by the
manifest alone, and similarity only adds to it. Any exclude_keyword sets the score to 0. The best
expert is chosen when its score reaches `threshold`; with top_k > 1, others within `CHAIN_RATIO`
of the best join the chain, which then goes through the constraint resolver like a named
composition. Ties (equal to 2 decimals) go to the higher `routing.priority`, then the name.

The weights, bands and threshold were set on bench/data/route/prompts.jsonl with a two-fold
check (tuned on one half, measured on the other; bench/data/route/README.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expertkit.errors import ExpertError
from expertkit.packaging.routing_member import routing_text
from expertkit.runtime.routing_signals import ExpertProfile, matches, profile_from_manifest, saturating

WEIGHTS = {"keywords": 0.6, "capabilities": 0.1, "description": 0.3, "examples": 0.6}
# cosine -> 0..1: below the low end says nothing, the high end is a clear match (all-MiniLM-L6-v2 scale)
DESCRIPTION_BAND = (0.15, 0.60)
EXAMPLES_BAND = (0.20, 0.60)
NEAREST = 3  # mean of the top-3 example similarities: one odd training prompt can't carry a route
DEFAULT_THRESHOLD = 0.30  # = one keyword hit and nothing against it (0.6 x 0.5)
CHAIN_RATIO = 0.8


def _band(value: float, band: tuple[float, float]) -> float:
    low, high = band
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


@dataclass
class ExpertScore:
    name: str
    version: str
    score: float
    priority: float = 0.0
    keywords: list[dict[str, Any]] = field(default_factory=list)
    capabilities: list[dict[str, Any]] = field(default_factory=list)
    excluded_by: list[dict[str, Any]] = field(default_factory=list)
    similarity: dict[str, float] = field(default_factory=dict)
    signals: dict[str, float] = field(default_factory=dict)  # each signal's 0..1 value before weighting
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"expert": self.name, "version": self.version, "score": round(self.score, 4), "priority": self.priority,
                "keywords": self.keywords, "capabilities": self.capabilities, "excluded_by": self.excluded_by,
                "similarity": {k: round(v, 4) for k, v in self.similarity.items()},
                "signals": {k: round(v, 4) for k, v in self.signals.items()}, "notes": self.notes}


@dataclass
class RouteDecision:
    experts: list[str]
    confidence: float
    scores: list[ExpertScore]
    threshold: float
    embedder: str | None

    @property
    def abstained(self) -> bool:
        return not self.experts

    def to_dict(self) -> dict[str, Any]:
        return {"experts": self.experts, "confidence": round(self.confidence, 4), "scores": [s.to_dict() for s in self.scores],
                "threshold": self.threshold, "embedder": self.embedder}


def resolve_routed_chain(chain: list[ExpertProfile]) -> list[str]:
    """THE call site where a routed chain meets the constraint resolver (runtime/compose.py, issue #16).

    That resolver is not on this branch yet (it lands with #16); until it is merged the chain keeps
    the router's order, best first. After the merge this body becomes
    ``compose.resolve([f"{p.name}@{p.version}" for p in chain], lookup).names`` with the pool's
    (or the registry's) lookup, so requires/incompatible_with/load_order/max_chain apply to a routed
    chain exactly as to a named one; a CompositionError (e.g. two incompatible experts both
    scoring high) falls back to the best expert alone.
    """
    return [p.name for p in chain]


class Router:
    """Scores installed experts for a prompt; build once, route many times (read-only after init)."""

    def __init__(self, profiles: list[ExpertProfile], embedder: Any = None, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.profiles = profiles
        self.embedder = embedder
        self.threshold = threshold
        self._examples: dict[str, np.ndarray] = {}
        self._descriptions: dict[str, np.ndarray] = {}
        self._prepare()

    def _prepare(self) -> None:
        """Take each expert's stored vectors when they match our embedder; embed missing descriptions once."""
        missing: list[ExpertProfile] = []
        for p in self.profiles:
            data = p.routing
            if data is not None and self.embedder is not None and data.embedder == self.embedder.id:
                self._examples[p.name] = data.examples
                if data.description is not None:
                    self._descriptions[p.name] = data.description
            elif data is not None:
                used = self.embedder.id if self.embedder is not None else "none"
                p.notes.append(f"routing examples were embedded with {data.embedder}, the router uses {used}: not used")
            if self.embedder is not None and p.name not in self._descriptions and p.description_text:
                missing.append(p)
        if missing:
            rows = self.embedder.embed([p.description_text for p in missing])
            self._descriptions.update({p.name: row for p, row in zip(missing, rows, strict=True)})

    @classmethod
    def from_registry(cls, embedder: Any = "default", *, threshold: float = DEFAULT_THRESHOLD) -> Router:
        """Every installed expert's current version. ``embedder``: a loaded one, a `load_embedder` name,
        "default" (the default model when installed, else none) or None (manifest signals only)."""
        return cls(installed_profiles(), _embedder(embedder), threshold=threshold)

    def route(self, prompt: str, system: str | None = None, *, top_k: int = 1) -> RouteDecision:
        query = None
        if self.embedder is not None and (self._examples or self._descriptions):
            query = self.embedder.embed([routing_text(prompt, system)])[0]
        texts = {"user": prompt, "system": system or ""}
        scores = [self._score(p, texts, query) for p in self.profiles]
        scores.sort(key=lambda s: (-round(s.score, 2), -s.priority, s.name))
        return self._decide(scores, top_k)

    def _score(self, p: ExpertProfile, texts: dict[str, str], query: np.ndarray | None) -> ExpertScore:
        s = ExpertScore(p.name, p.version, 0.0, priority=p.priority, notes=list(p.notes))
        s.keywords = matches(texts, p.keywords)
        found = {k["term"] for k in s.keywords}
        s.capabilities = [c for c in matches(texts, p.capability_terms) if c["term"] not in found]  # counted once
        s.excluded_by = matches(texts, p.exclude_keywords)
        if p.keywords:
            s.signals["keywords"] = saturating(len(s.keywords))
        if p.capability_terms:
            s.signals["capabilities"] = saturating(len(s.capabilities), half=2.0)
        if query is not None and p.name in self._descriptions:
            s.similarity["description"] = float(self._descriptions[p.name] @ query)
            s.signals["description"] = _band(s.similarity["description"], DESCRIPTION_BAND)
        if query is not None and p.name in self._examples and len(self._examples[p.name]):
            sims = np.sort(self._examples[p.name] @ query)[::-1][:NEAREST]
            s.similarity["examples"] = float(sims.mean())
            s.similarity["nearest_example"] = float(sims[0])
            s.signals["examples"] = _band(s.similarity["examples"], EXAMPLES_BAND)
        s.score = 0.0 if s.excluded_by else 1.0 - float(np.prod([1.0 - WEIGHTS[k] * v for k, v in s.signals.items()]))
        return s

    def _decide(self, scores: list[ExpertScore], top_k: int) -> RouteDecision:
        best = scores[0].score if scores else 0.0
        embedder = self.embedder.id if self.embedder is not None else None
        if best < self.threshold:
            return RouteDecision([], 1.0 - best, scores, self.threshold, embedder)
        chosen = [s for s in scores[:max(1, top_k)] if s.score >= self.threshold and s.score >= CHAIN_RATIO * best]
        by_name = {p.name: p for p in self.profiles}
        return RouteDecision(resolve_routed_chain([by_name[s.name] for s in chosen]), best, scores, self.threshold, embedder)


def _embedder(embedder: Any) -> Any:
    from expertkit.models.embedding import load_embedder

    if embedder == "default":
        try:
            return load_embedder()
        except ExpertError:
            return None  # not installed: the router still works on manifest signals
    return load_embedder(embedder) if isinstance(embedder, str) else embedder


def installed_profiles() -> list[ExpertProfile]:
    """A profile per installed expert (current version), manifest read through the one loader."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.packaging.routing_member import read_routing_dir
    from expertkit.registry.store import current_record, read_registry, version_dir

    data = read_registry()
    profiles = []
    for name in sorted(data["experts"]):
        version, _ = current_record(data, name)
        path = version_dir(name, version)
        loaded = load_manifest(path / "manifest.json", check_files=False)
        notes: list[str] = []
        try:
            routing = read_routing_dir(path)
        except ExpertError as exc:
            routing = None
            notes.append(f"routing data ignored: {exc.message}")
        profile = profile_from_manifest(loaded.model, routing=routing, path=path)
        profile.notes += notes
        profiles.append(profile)
    return profiles
