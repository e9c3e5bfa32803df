"""Composition: which experts a request runs with, in what order, under whose decoding settings.

One resolver serves ask, chat, route and serve. A spec names experts joined by ``+``, each
``NAME[@VERSION][:WEIGHT]`` (``expert-sql:0.7+expert-json:0.3``); ``resolve`` applies the
manifests' ``constraints``. A spec may also name *alternatives* joined by ``|``, which binds
looser than ``+`` (``a+b|c``: the chain a+b, or c): they are never composed; the router picks one
per request (`runtime/gating.py`) and that one is resolved here like any named chain.
``split_alternatives`` is the parser of that form, so this module stays the one home of spec
syntax. Constraints:

- ``requires`` is pulled in transitively (weight 1.0): an attached or installed version that
  satisfies the range; whatever is missing is reported at once, naming what to install.
- ``incompatible_with`` (either direction) is an error naming both experts.
- Duplicates collapse into one link (two different explicit weights for one expert: error).
- ``load_order`` orders application, lower first; experts without one go last; ties keep request
  order, with a required expert before the one that requires it.
- ``max_chain``: the smallest among the chosen experts caps the chain length.

What composition means per adapter type (`runtime/adapter_kinds.py` implements the types):

One rule for every backend: the links apply in load order, each wrapping the layer as the links
before it left it — what PEFT computes when it loads one adapter on top of another (tested
against that, and against PEFT's several-active-adapters forward):
- LoRA / DoRA: every link's delta is added to the layer's output, each scaled by its weight
  (PEFT's multi-adapter forward with ``set_scale``); for DoRA the weight scales the direction
  update, and its magnitude rescales what came before it (PEFT's ``(g - 1)·result`` term).
- IA3: a link scales what came before it — an output scale multiplies the base layer *and* the
  earlier links' deltas, an input scale (feed-forward modules) feeds them all; IA3 before every
  LoRA/DoRA link thus scales the base layer alone. Scales multiply; weights other than 1 are
  refused (a scale has no "share"). The transformers backend applies a chain's LoRA/DoRA links
  together, so it refuses an IA3 link *between* two of them (the decoder runs it).
- Soft prompts: prepended in load order (first link's virtual tokens first); weights refused.
- Any mix of the above works; two experts that both replace a whole module (``modules_to_save``)
  cannot be combined and are refused, as are types the runtime does not support.

Decoding settings of a chain (``chain_settings``): the *primary* expert (last in load order,
i.e. the most task-specific) gives sampling, stops, thinking switch and system prompt; the grammar
comes from the last expert in load order that has one; ``max_new_tokens`` is the largest in the
chain. A request's overrides apply on top. ``decided_by`` records which expert gave what.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from expertkit.errors import CompositionError, ExpertError
from expertkit.registry.refs import parse_ref

SEPARATOR = "+"
ALTERNATIVE = "|"
SPEC_HINT = "write NAME[@VERSION][:WEIGHT] joined by + (composed), and alternatives joined by | (one chosen per request)"
__all__ = ["CompositionError", "Chain", "ExpertInfo", "Link", "chain_settings", "first_expert", "is_gated", "parse_spec",
           "resolve", "split_alternatives"]


@dataclass(frozen=True)
class ExpertInfo:
    """What the resolver needs to know about one expert version (from its manifest)."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    incompatible_with: tuple[str, ...] = ()
    load_order: int | None = None
    max_chain: int | None = None


@dataclass(frozen=True)
class Link:
    name: str
    version: str
    weight: float
    load_order: int | None
    pulled_by: str | None = None  # the expert whose `requires` brought this one in

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "weight": self.weight, "load_order": self.load_order,
                "pulled_by": self.pulled_by}


@dataclass(frozen=True)
class Chain:
    """Experts in application order; empty = the base model alone."""

    links: tuple[Link, ...] = ()
    max_chain: int | None = None

    @property
    def key(self) -> tuple[tuple[str, float], ...]:
        """What a backend needs: ((name, weight), ...) in application order."""
        return tuple((link.name, link.weight) for link in self.links)

    @property
    def names(self) -> list[str]:
        return [link.name for link in self.links]

    def to_dict(self) -> list[dict[str, Any]]:
        return [link.to_dict() for link in self.links]


@dataclass(frozen=True)
class Wanted:
    name: str
    requirement: str | None  # version spec text (PEP 440) or None
    weight: float | None  # None = not given (1.0)


def info_from_manifest(manifest: Any) -> ExpertInfo:
    """The resolver's view of a manifest: its identity and ``constraints``."""
    c = manifest.constraints
    return ExpertInfo(manifest.name, manifest.version, tuple(c.requires), tuple(c.incompatible_with), c.load_order, c.max_chain)


Lookup = Callable[[str, "str | None"], "ExpertInfo | None"]  # (name, version spec) -> info or None


def is_gated(spec: object) -> bool:
    """True for a spec of alternatives (``a|b``): one of them is chosen per request, by the router."""
    return isinstance(spec, str) and ALTERNATIVE in spec


def split_alternatives(spec: str) -> list[str]:
    """``"a+b|c"`` -> ``["a+b", "c"]``, each alternative checked as a spec; errors name the bad part.

    A spec without ``|`` is one alternative. The same alternative twice is refused: the router
    would score both alike and one of them could never be chosen, so it is surely a typo."""
    parts = [part.strip() for part in spec.split(ALTERNATIVE)]
    seen: dict[tuple[Any, ...], str] = {}
    for i, part in enumerate(parts, 1):
        if not part:
            raise CompositionError(f"expert spec {spec!r}: alternative {i} of {len(parts)} is empty", hint=SPEC_HINT)
        try:
            wanted = parse_spec(part)
        except ExpertError as exc:
            detail = re.sub(r"^expert spec '[^']*': ", "", exc.message)  # the whole spec is named once, below
            raise CompositionError(f"expert spec {spec!r}, alternative {part!r}: {detail}", hint=exc.hint or SPEC_HINT) from None
        key = tuple(sorted((w.name, w.requirement or "", w.weight or 1.0) for w in wanted))
        if key in seen:
            raise CompositionError(f"expert spec {spec!r}: alternatives {seen[key]!r} and {part!r} are the same chain",
                                   hint="name each alternative once")
        seen[key] = part
    return parts


def first_expert(spec: str | Sequence[str]) -> Wanted:
    """The first expert ``spec`` names (in its first alternative): the one whose manifest picks the base model."""
    return parse_spec(split_alternatives(spec)[0] if is_gated(spec) else spec)[0]


def parse_spec(spec: str | Sequence[str]) -> list[Wanted]:
    """``a+b:0.5`` or ``["a", "b:0.5"]`` -> wanted experts; errors name the bad part. Alternatives
    (``a|b``) are refused here: they are never composed (see `split_alternatives`)."""
    parts = spec.split(SEPARATOR) if isinstance(spec, str) else list(spec)
    if any(ALTERNATIVE in part for part in parts):
        raise CompositionError(f"expert spec {str(spec)!r} names alternatives (|): one of them is chosen per request, "
                               "not composed", hint="let the router choose one (runtime.gating.choose), or join experts with + to compose them")
    out = []
    for raw in parts:
        text = raw.strip()
        head, _, weight_text = text.partition(":")
        if not head.strip():
            raise CompositionError(f"expert spec {str(spec)!r}: empty expert name", hint=SPEC_HINT)
        ref = parse_ref(head)  # the one NAME[@VERSION] parser: an empty name or version is a usage error
        name, version = ref.name, ref.version or ""
        weight = None
        if weight_text:
            try:
                weight = float(weight_text)
            except ValueError:
                raise CompositionError(f"expert spec {text!r}: weight {weight_text!r} is not a number") from None
            if not 0 < weight <= 10:
                raise CompositionError(f"expert spec {text!r}: weight {weight} is out of range (expected 0 < weight <= 10)")
        version = version.strip()
        requirement = ("==" + version if version[:1].isdigit() else version) if version else None
        out.append(Wanted(name.strip(), requirement, weight))
    return out


def resolve(spec: str | Sequence[str], lookup: Lookup) -> Chain:
    """The chain for ``spec`` under every manifest constraint (see the module doc)."""
    from expertkit.registry.versions import parse_requirement

    chosen: dict[str, tuple[ExpertInfo, float | None, str | None]] = {}
    missing: list[str] = []
    for want in parse_spec(spec):
        if want.name in chosen:
            info, weight, _ = chosen[want.name]
            if want.weight is not None and weight is not None and want.weight != weight:
                raise CompositionError(f"{want.name} is named twice with different weights ({weight} and {want.weight})")
            chosen[want.name] = (info, weight if weight is not None else want.weight, None)
            continue
        info = lookup(want.name, want.requirement)
        if info is None:
            missing.append(f"{want.name}{'@' + want.requirement if want.requirement else ''}")
            continue
        chosen[want.name] = (info, want.weight, None)
    queue = [info for info, _, _ in chosen.values()]
    while queue:
        owner = queue.pop(0)
        for text in owner.requires:
            req = parse_requirement(text)
            if req.name in chosen:
                have = chosen[req.name][0]
                if not req.allows(have.version):
                    raise CompositionError(f"{owner.name} requires {req.text} but {have.name}@{have.version} is chosen",
                                           hint=f"name a version of {req.name} that satisfies {req.text}")
                continue
            spec_text = str(req.spec) if req.spec is not None else None
            info = lookup(req.name, spec_text)
            if info is None:
                missing.append(f"{req.text} (required by {owner.name})")
                continue
            chosen[req.name] = (info, None, owner.name)
            queue.append(info)
    if missing:
        raise CompositionError(f"not installed: {'; '.join(dict.fromkeys(missing))}",
                               hint="install the missing experts (expert-cli install <package>.expert) and try again")
    infos = _dependencies_first(chosen)
    _check_incompatible(infos)
    ordered = sorted(range(len(infos)), key=lambda i: (infos[i].load_order is None, infos[i].load_order or 0, i))
    links = tuple(Link(infos[i].name, infos[i].version, _weight(chosen[infos[i].name][1]), infos[i].load_order,
                       chosen[infos[i].name][2]) for i in ordered)
    return Chain(links, _check_max_chain(infos))


def _dependencies_first(chosen: dict[str, Any]) -> list[ExpertInfo]:
    """Request order, each expert after what it requires (the tie-break under equal load_order)."""
    from expertkit.registry.versions import parse_requirement

    out: dict[str, ExpertInfo] = {}
    visiting: set[str] = set()  # a requires cycle must not recurse forever

    def visit(info: ExpertInfo) -> None:
        if info.name in out or info.name in visiting:
            return
        visiting.add(info.name)
        for text in info.requires:
            dep = chosen.get(parse_requirement(text).name)
            if dep is not None:
                visit(dep[0])
        out[info.name] = info

    for info, _, _ in chosen.values():
        visit(info)
    return list(out.values())


def _weight(given: float | None) -> float:
    return 1.0 if given is None else given


def _check_incompatible(infos: list[ExpertInfo]) -> None:
    from expertkit.registry.versions import parse_requirement

    by_name = {i.name: i for i in infos}
    for info in infos:
        for text in info.incompatible_with:
            req = parse_requirement(text)
            other = by_name.get(req.name)
            if other is not None and other is not info and req.allows(other.version):
                raise CompositionError(f"{info.name}@{info.version} is incompatible with {other.name}@{other.version} "
                                       f"(constraints.incompatible_with of {info.name})",
                                       hint=f"use {info.name} and {other.name} in separate requests")


def _check_max_chain(infos: list[ExpertInfo]) -> int | None:
    caps = [(i.max_chain, i.name) for i in infos if i.max_chain is not None]
    if not caps:
        return None
    cap, who = min(caps)
    if len(infos) > cap:
        names = ", ".join(i.name for i in infos)
        raise CompositionError(f"chain of {len(infos)} experts ({names}) exceeds max_chain {cap} of {who}",
                               hint="name fewer experts (requirements count too)")
    return cap


# -- decoding settings of a chain --------------------------------------------------------------
@dataclass
class ChainSettings:
    settings: Any  # DecodingSettings
    system_prompt: str | None
    decided_by: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {"decided_by": self.decided_by, "max_new_tokens": s.max_new_tokens, "enable_thinking": s.enable_thinking,
                "use_grammar": s.use_grammar, "grammar_file": str(s.grammar_file) if s.grammar_file else None,
                "temperature": s.temperature}


def chain_settings(members: Sequence[tuple[str, Any, str | None]], default: Any, default_system: str | None,
                   default_from: str | None = None) -> ChainSettings:
    """``members``: (name, DecodingSettings or None, system prompt) in application order; without
    settings among them, ``default`` applies (``default_from``: the expert it is from, None: nobody's)."""
    import dataclasses

    known = [(name, s, sp) for name, s, sp in members if s is not None]
    if not known:
        return ChainSettings(default, default_system, {"settings": default_from})
    primary, settings, system = known[-1]
    by = {"settings": primary, "grammar": None, "max_new_tokens": primary}
    with_grammar = [(name, s) for name, s, _ in known if s.grammar_file is not None]
    if with_grammar:
        name, g = with_grammar[-1]
        settings = dataclasses.replace(settings, use_grammar=g.use_grammar, grammar_file=g.grammar_file,
                                       grammar_slots=g.grammar_slots, reasoning_rule=g.reasoning_rule)
        by["grammar"] = name
    longest = max(known, key=lambda m: m[1].max_new_tokens)
    if longest[1].max_new_tokens > settings.max_new_tokens:
        settings = dataclasses.replace(settings, max_new_tokens=longest[1].max_new_tokens)
        by["max_new_tokens"] = longest[0]
    return ChainSettings(settings, system, by)
