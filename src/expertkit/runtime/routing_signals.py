"""What the router knows about one expert, and the signals it reads from a prompt.

`ExpertProfile` is the router's typed input; `profile_from_manifest` is the one adapter from the
manifest model to it, so a change in how the manifest spells routing fields changes one function.

Signals, each with its evidence (what matched):
- keywords: `routing.keywords`, matched as whole words or phrases, case-insensitive, in the user
  message and the system message;
- exclude_keywords: any match keeps the expert out, whatever else matched;
- capabilities: `capabilities` values (`task:sql_generation` -> the phrase "sql generation" and
  its distinctive words) and `router_hint` clauses of the reference form `key=value OR ...`;
- similarity (in routing.py): cosine to the description (+ router_hint) and to the expert's own
  training prompts, from the package's routing/ member.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.manifest.model import Manifest
from expertkit.packaging.routing_member import RoutingData, description_text

# Words too common to say anything about a prompt on their own (capability terms only; keywords
# are the author's explicit choice and always count).
_STOP = frozenset("""a an and are as at be by for from in into is it of on or the to with without
    en language generation general support basic simple data use usecase task feature""".split())
_MIN_TERM = 3
_HINT_CLAUSE = re.compile(r"([A-Za-z_][\w.-]*)\s*=\s*([^\s()]+)")


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern for ``phrase`` (inner whitespace matches any run of it)."""
    words = [re.escape(w) for w in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Term:
    text: str
    pattern: re.Pattern[str]


def terms(phrases: list[str]) -> tuple[Term, ...]:
    seen: dict[str, Term] = {}
    for phrase in phrases:
        key = " ".join(phrase.lower().split())
        if key and key not in seen:
            seen[key] = Term(key, phrase_pattern(key))
    return tuple(seen.values())


def capability_terms(capabilities: list[str], router_hint: str | None) -> list[str]:
    """Phrases a capability or router_hint clause stands for: `feature:group_by` -> "group by", "group"."""
    values = [c.split(":", 1)[-1] for c in capabilities if not c.startswith("language:")]
    values += [v for _, v in _HINT_CLAUSE.findall(router_hint or "")]
    out: list[str] = []
    for value in values:
        words = [w for w in re.split(r"[_\-\s./]+", value.lower()) if w]
        if not words:
            continue
        if len(words) > 1:
            out.append(" ".join(words))
        out += [w for w in words if len(w) >= _MIN_TERM and w not in _STOP]
    return out


@dataclass
class ExpertProfile:
    """The router's view of one installed expert (built by `profile_from_manifest`)."""

    name: str
    version: str
    description: str
    keywords: tuple[Term, ...] = ()
    exclude_keywords: tuple[Term, ...] = ()
    capability_terms: tuple[Term, ...] = ()
    priority: float = 0.0
    router_hint: str | None = None
    routing: RoutingData | None = None
    path: Path | None = None
    manifest: Manifest | None = None  # for the constraint resolver
    notes: list[str] = field(default_factory=list)

    @property
    def description_text(self) -> str:
        return description_text(self.description, self.router_hint)


def profile_from_manifest(manifest: Manifest, *, routing: RoutingData | None = None, path: Path | None = None) -> ExpertProfile:
    """The one adapter from the manifest model to the router's input."""
    r = manifest.routing
    keywords = list(r.keywords) if r else []
    excluded = list(r.exclude_keywords) if r else []
    hint = r.router_hint if r else None
    priority = float(r.priority) if r and r.priority is not None else 0.0
    return ExpertProfile(
        name=manifest.name, version=manifest.version, description=manifest.description or "",
        keywords=terms(keywords), exclude_keywords=terms(excluded),
        capability_terms=terms(capability_terms(list(manifest.capabilities), hint)),
        priority=priority, router_hint=hint, routing=routing, path=path, manifest=manifest)


def matches(found_in: dict[str, str], wanted: tuple[Term, ...]) -> list[dict[str, Any]]:
    """Each term of ``wanted`` found in the named texts: {"term", "in": [where...]}."""
    out = []
    for term in wanted:
        where = [name for name, text in found_in.items() if text and term.pattern.search(text)]
        if where:
            out.append({"term": term.text, "in": where})
    return out


def saturating(count: int, half: float = 1.0) -> float:
    """0 for none, 0.5 at ``half`` hits, approaching 1: more hits add less each."""
    return 0.0 if count <= 0 else 1.0 - 0.5 ** (count / half)
