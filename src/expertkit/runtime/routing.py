"""The router: score every installed expert for a prompt, choose a chain or abstain (the base model).

    router = Router.from_registry()                 # once: manifests, routing/ members, the embedder
    decision = router.route("How many users signed up in May?", system="Dialect: sqlite\\n...")
    decision.experts      # ["expert-sql"], or [] when the base model should answer
    decision.confidence   # 0..1: the chosen expert's score, or 1 - the best score when abstaining
    decision.scores       # per expert: score and evidence (keywords, capabilities, similarity)

Per request the router embeds the user message and the system message (`routing_text`,
`system_text`: the same rules as package time), and takes dot products with what was loaded;
nothing of an expert is recomputed per request. System messages repeat (one schema per
application, one per conversation), so their vectors are kept for the last `SYSTEM_CACHE` texts.

Score of an expert, 0..1: each signal gives evidence v in 0..1, and the evidence adds up like
independent indications, score = 1 - prod(1 - w * v):
- keywords and capability terms saturate in the number of hits;
- description: cosine to the description, mapped from a band (weak: it says what the expert is
  *about*, and a question about SQL is about SQL too);
- examples: how much nearer the request is to the expert's own training prompts (mean of the top
  3 cosines) than to the base model's prompts (routing_base.py, same measure), read against the
  expert's own calibration (`calibrate`: from the gate to its own prompts' median margin); without
  base prompts, the top-3 cosine itself, from a band;
- system: the best cosine of the request's system message to the training split's system
  messages, from a band (a schema where the expert expects one).
A signal that is missing (a package without routing/, a router without an embedder) never lowers
a score: the router still routes by the manifest alone. Two rules keep an expert out whatever
else matched: any exclude_keyword, and, when the embedder can tell, a request that is not nearer
the expert's examples than the base model's prompts by the expert's gate and brings no system
message like the expert's (`nearer_base`): a question that shares the expert's words but not its
task ("is SQL hard to learn?", "a dining table") goes to the base model. The gate is calibrated per
expert (`calibrate`): the margin general requests (the base prompts themselves) reach against its
examples one time in ten, lowered when the expert's own prompts look like the base prompts, so the
rule can't keep it out of its own kind of request. The best expert is chosen when its score
reaches `threshold`; with top_k > 1, others within `CHAIN_RATIO` of the best join the chain, which
then goes through the constraint resolver like a named composition. Ties (equal to 2 decimals)
go to the higher `routing.priority`, then the name.

The weights, bands and margins were set on the dev half of bench/data/route/prompts.jsonl (even
lines of each kind) and measured on the held-out half (`bench/route.py` reports both).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expertkit.errors import ExpertError
from expertkit.packaging.routing_member import routing_text, system_text
from expertkit.runtime.routing_base import BASE_PROMPTS
from expertkit.runtime.routing_signals import ExpertProfile, matches, profile_from_manifest, saturating

WEIGHTS = {"keywords": 0.6, "capabilities": 0.1, "description": 0.15, "examples": 0.6, "system": 0.8}
# cosine -> 0..1: below the low end says nothing, the high end is a clear match (all-MiniLM-L6-v2 scale)
DESCRIPTION_BAND = (0.15, 0.60)
EXAMPLES_BAND = (0.20, 0.60)  # only without base prompts
SYSTEM_BAND = (0.30, 0.60)
# The examples margin (top-3 cosine to the expert's examples minus top-3 cosine to the base prompts)
# is read against each expert's own calibration (`calibrate`): below what one general request in
# ten reaches against its examples, it says nothing (and keeps the expert out); at its own prompts'
# median margin, it is a full match.
BASE_QUANTILE = 0.9
OWN_QUANTILE = 0.1  # the gate never keeps out more than this share of the expert's own prompts
FULL_QUANTILE = 0.5  # the own prompts' margin quantile at which the examples signal is a full match
BASE_MARGIN = 0.05  # the gate when nothing can be calibrated (fewer than 2 examples)
MARGIN_SPAN = 0.10  # the least width of a calibrated band: own prompts no further from the base ones still grade
# requests are embedded with int8 weights (packages keep fp32 vectors): ~2.5x less CPU, same routes
# on the bench (models/embedding.py `_int8`); through a trace of the forward (`_traced`): the same
# vectors without the Python of the transformers forward
QUANTIZE = True
TRACE = True
SYSTEM_CACHE = 256  # system-message vectors kept (384 floats each)
NEAREST = 3  # mean of the top-3 similarities: one odd training prompt can't carry a route
DEFAULT_THRESHOLD = 0.30  # = one keyword hit and nothing against it (0.6 x 0.5)
CHAIN_RATIO = 0.8


def _top_mean(sims: np.ndarray) -> float:
    return float(np.sort(sims)[::-1][:NEAREST].mean())


def _loo_top_mean(sims: np.ndarray) -> np.ndarray:
    """Per row of a square similarity matrix: the top-3 mean over the *other* rows (leave-one-out)."""
    sims = sims.copy()
    np.fill_diagonal(sims, -np.inf)
    k = min(NEAREST, len(sims) - 1)
    return np.sort(sims, axis=1)[:, ::-1][:, :k].mean(axis=1)


def calibrate(examples: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """(gate, full) of the examples margin for one expert, from its own training prompts and the base prompts.

    gate: the margin that general requests (each base prompt against the expert's examples, the
    others as its base) exceed one time in ten (`BASE_QUANTILE`): how far a general request gets
    depends on the expert (expert-sql's "How many ...?" prompts look more like general questions
    than expert-json's texts do), which one fixed margin (0.05, `BASE_MARGIN`) could not say. It is
    lowered to what the expert's own prompts reach in one case in ten (leave-one-out), so an
    expert whose prompts look like the base ones (poems, tone) is not kept out of its own kind of
    request. full: the own prompts' median margin, where the signal saturates."""
    if len(examples) < 2 or len(base) < 2:
        return BASE_MARGIN, BASE_MARGIN + MARGIN_SPAN
    own = _loo_top_mean(examples @ examples.T) - np.sort(examples @ base.T, axis=1)[:, ::-1][:, :NEAREST].mean(axis=1)
    general = np.sort(base @ examples.T, axis=1)[:, ::-1][:, :NEAREST].mean(axis=1) - _loo_top_mean(base @ base.T)
    gate = float(min(np.quantile(general, BASE_QUANTILE), np.quantile(own, OWN_QUANTILE)))
    return gate, max(float(np.quantile(own, FULL_QUANTILE)), gate + MARGIN_SPAN)


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
    nearer_base: bool = False  # kept out: the request looks like the base model's prompts, not the expert's
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"expert": self.name, "version": self.version, "score": round(self.score, 4), "priority": self.priority,
                "keywords": self.keywords, "capabilities": self.capabilities, "excluded_by": self.excluded_by,
                "similarity": {k: round(v, 4) for k, v in self.similarity.items()},
                "signals": {k: round(v, 4) for k, v in self.signals.items()}, "nearer_base": self.nearer_base,
                "notes": self.notes}


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

    @property
    def run(self) -> str | list[str]:
        """What the engine is asked for: the chosen chain ([] = the base model)."""
        return list(self.experts)

    def summary(self) -> str:
        """One line saying who answers and why."""
        if self.experts:
            return f"{'+'.join(self.experts)} (router confidence {self.confidence:.2f})"
        return f"base model (no expert reached {self.threshold:.2f}; confidence {self.confidence:.2f})"

    def to_dict(self) -> dict[str, Any]:
        return {"experts": self.experts, "confidence": round(self.confidence, 4), "scores": [s.to_dict() for s in self.scores],
                "threshold": self.threshold, "embedder": self.embedder}


def resolve_routed_chain(chain: list[ExpertProfile]) -> list[str]:
    """A routed chain goes through the one constraint resolver (runtime/compose.py), exactly as a
    named one: ``requires`` pulled in, ``load_order`` applied, ``max_chain`` and
    ``incompatible_with`` enforced. When the chosen experts can't be combined, the best one
    answers alone; when even it can't be resolved (a requirement isn't installed), it stays the
    choice and the resolver's error reaches whoever runs the chain."""
    from expertkit.errors import CompositionError
    from expertkit.registry.versions import parse_requirement
    from expertkit.runtime.compose import info_from_manifest, resolve
    from expertkit.runtime.pool import installed_lookup

    if not chain:
        return []
    known = {p.name: info_from_manifest(p.manifest) for p in chain if p.manifest is not None}

    def lookup(name: str, spec: str | None) -> Any:
        info = known.get(name)
        if info is not None and parse_requirement(f"{name}@{spec}" if spec else name).allows(info.version):
            return info
        return installed_lookup(name, spec)

    for names in ([p.name for p in chain], [chain[0].name]):
        try:
            return resolve(names, lookup).names
        except CompositionError:
            continue
    return [chain[0].name]


class Router:
    """Scores installed experts for a prompt; build once, route many times, from any thread (the one
    state that changes, the system-message vectors, is an lru_cache)."""

    def __init__(self, profiles: list[ExpertProfile], embedder: Any = None, *, threshold: float = DEFAULT_THRESHOLD,
                 base_prompts: Sequence[str] = BASE_PROMPTS, system_cache: int = SYSTEM_CACHE) -> None:
        self.profiles = profiles
        self.embedder = embedder
        self.threshold = threshold
        self._examples: dict[str, np.ndarray] = {}
        self._systems: dict[str, np.ndarray] = {}
        self._descriptions: dict[str, np.ndarray] = {}
        self._base: np.ndarray | None = None
        self._gate: dict[str, tuple[float, float]] = {}  # per expert: `calibrate`'s (gate, full) examples margins
        # lru_cache is thread-safe: the server routes from several threads
        self._system_vector = functools.lru_cache(maxsize=system_cache)(self._embed_one)
        self._prepare(base_prompts)

    def _prepare(self, base_prompts: Sequence[str]) -> None:
        """Take each expert's stored vectors when they match our embedder; embed missing descriptions
        and the base prompts once."""
        missing: list[ExpertProfile] = []
        for p in self.profiles:
            data = p.routing
            if data is not None and self.embedder is not None and data.embedder == self.embedder.id:
                self._examples[p.name] = data.examples
                if data.systems is not None:
                    self._systems[p.name] = data.systems
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
        if self.embedder is not None and self._examples and base_prompts:
            self._base = self.embedder.embed(list(base_prompts))
            self._gate = {name: calibrate(rows, self._base) for name, rows in self._examples.items() if len(rows)}

    @classmethod
    def from_registry(cls, embedder: Any = "default", *, threshold: float = DEFAULT_THRESHOLD) -> Router:
        """Every installed expert's current version. ``embedder``: a loaded one, a `load_embedder` name,
        "default" (the default model when installed, else none) or None (manifest signals only)."""
        return cls(installed_profiles(), _embedder(embedder), threshold=threshold)

    @classmethod
    def from_dirs(cls, paths: Sequence[Any], embedder: Any = "default", *, threshold: float = DEFAULT_THRESHOLD) -> Router:
        """The experts in these directories (extracted packages, not necessarily installed); ``embedder`` as above."""
        return cls([profile_from_dir(path) for path in paths], _embedder(embedder), threshold=threshold)

    def route(self, prompt: str, system: str | None = None, *, top_k: int = 1) -> RouteDecision:
        return self._decide(self.score(prompt, system), top_k)

    def score(self, prompt: str, system: str | None = None, names: Sequence[str] | None = None) -> list[ExpertScore]:
        """Every expert's score for the request (``names``: only those it knows of them), best first;
        ties (equal to 2 decimals) go to the higher priority, then the name. `route` decides on it;
        gating (runtime/gating.py) reads it for its candidates alone."""
        wanted = None if names is None else set(names)
        profiles = [p for p in self.profiles if wanted is None or p.name in wanted]
        query = self._embed(prompt, system) if profiles else {}
        texts = {"user": prompt, "system": system or ""}
        scores = [self._score(p, texts, query) for p in profiles]
        scores.sort(key=lambda s: (-round(s.score, 2), -s.priority, s.name))
        return scores

    def _embed(self, prompt: str, system: str | None) -> dict[str, Any]:
        """The request's vectors: "user", "system" (when given and some expert has system examples)
        and "base" (top-3 cosine of the user message to the base prompts)."""
        if self.embedder is None or not (self._examples or self._descriptions):
            return {}
        sys_text = system_text(system) if self._systems else None
        user = self._embed_one(routing_text(prompt, system))
        query: dict[str, Any] = {"user": user, "system": self._system_vector(sys_text) if sys_text else None,
                                 "has_system": system_text(system) is not None}
        if self._base is not None:
            query["base"] = _top_mean(self._base @ user)
        return query

    def _embed_one(self, text: str) -> np.ndarray:
        row = self.embedder.embed([text])[0]
        row.flags.writeable = False  # cached rows are shared between requests
        return row

    def _score(self, p: ExpertProfile, texts: dict[str, str], query: dict[str, Any]) -> ExpertScore:
        s = ExpertScore(p.name, p.version, 0.0, priority=p.priority, notes=list(p.notes))
        s.keywords = matches(texts, p.keywords)
        found = {k["term"] for k in s.keywords}
        s.capabilities = [c for c in matches(texts, p.capability_terms) if c["term"] not in found]  # counted once
        s.excluded_by = matches(texts, p.exclude_keywords)
        if p.keywords:
            s.signals["keywords"] = saturating(len(s.keywords))
        if p.capability_terms:
            s.signals["capabilities"] = saturating(len(s.capabilities), half=2.0)
        if query:
            self._similarity(s, query)
        s.score = 0.0 if s.excluded_by or s.nearer_base else 1.0 - float(np.prod([1.0 - WEIGHTS[k] * v for k, v in s.signals.items()]))
        return s

    def _similarity(self, s: ExpertScore, query: dict[str, Any]) -> None:
        """The embedding signals of one expert, and the rule that sends base-like requests to the base model."""
        user, name = query["user"], s.name
        if name in self._descriptions:
            s.similarity["description"] = float(self._descriptions[name] @ user)
            s.signals["description"] = _band(s.similarity["description"], DESCRIPTION_BAND)
        if name in self._systems and query.get("system") is not None:
            s.similarity["system"] = float(np.max(self._systems[name] @ query["system"]))
            s.signals["system"] = _band(s.similarity["system"], SYSTEM_BAND)
        if name not in self._examples or not len(self._examples[name]):
            return
        sims = self._examples[name] @ user
        s.similarity["examples"] = _top_mean(sims)
        s.similarity["nearest_example"] = float(sims.max())
        if "base" not in query:
            s.signals["examples"] = _band(s.similarity["examples"], EXAMPLES_BAND)
            return
        s.similarity["base"] = query["base"]
        margin = s.similarity["examples"] - query["base"]
        gate, full = self._gate.get(name, (BASE_MARGIN, BASE_MARGIN + MARGIN_SPAN))
        s.signals["examples"] = _band(margin, (gate, full))
        # a system message that can't be compared (a package made before routing/ kept system
        # messages) may be the expert's input: the rule can't tell, so it stays out of the way
        undecided = query["has_system"] and name not in self._systems
        s.nearer_base = not undecided and margin < gate and not s.signals.get("system")

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
            return load_embedder(quantize=QUANTIZE, trace=TRACE)
        except ExpertError:
            return None  # not installed: the router still works on manifest signals
    return load_embedder(embedder, quantize=QUANTIZE, trace=TRACE) if isinstance(embedder, str) else embedder


def installed_profiles() -> list[ExpertProfile]:
    """A profile per installed expert (current version)."""
    from expertkit.registry.store import current_record, read_registry, version_dir

    data = read_registry()
    return [profile_from_dir(version_dir(name, current_record(data, name)[0])) for name in sorted(data["experts"])]


def profile_from_dir(path: Any) -> ExpertProfile:
    """The profile of the expert in ``path`` (manifest read through the one loader, its routing/ member
    when valid: a bad one is noted and ignored, the manifest still routes)."""
    from pathlib import Path

    from expertkit.manifest.loader import load_manifest
    from expertkit.packaging.routing_member import read_routing_dir

    path = Path(path)
    loaded = load_manifest(path / "manifest.json", check_files=False)
    notes: list[str] = []
    try:
        routing = read_routing_dir(path)
    except ExpertError as exc:
        routing = None
        notes.append(f"routing data ignored: {exc.message}")
    profile = profile_from_manifest(loaded.model, routing=routing, path=path)
    profile.notes += notes
    return profile
