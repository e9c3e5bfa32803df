"""How close a test suite is to the training data: near-copies across train/test, per case and per category.

A suite made by the same generator as the training data scores the generator's phrasings, not
the task: `dataset prepare` already drops exact copies, but a test question that differs from a
training question only in its names and numbers is still a near-copy. Two figures per case:

- ``template_count``: how many training user turns have exactly the case's *template*, the text
  with names and values replaced: quoted strings and numbers, words naming a table or column of
  the prompt's schema (the system turn), and capitalised words after the first;
- ``max_jaccard``: the highest Jaccard similarity between the word 1- and 2-grams of the case's
  template and of any training turn's template, with that nearest training turn. On templates, not
  raw text: a generated test case over new tables shares its phrasing with training, not its words.

A case has a *near twin* when its template occurs in training or its Jaccard reaches
`NEAR_TWIN_JACCARD`; the suite gets a warning when more than `WARN_SHARE` of its cases do.
Everything here is pure (no model, no files) except `training_turns`, which reads the prepared
training file; the runner calls `measure` and puts `OverlapReport.summary()` into
quality_metrics as ``test_train_overlap``.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NEAR_TWIN_JACCARD = 0.6  # on expert-sql: generated test cases 0.65-1.0 (mean 0.95), hand-written ones mostly 0.1-0.5
WARN_SHARE = 0.5
_WORD = re.compile(r"[A-Za-z0-9_]+(?:'[a-z]+)?")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Turn:
    """One training example as the overlap sees it: its user turn and the system turn beside it."""

    text: str
    system: str = ""


@dataclass
class CaseOverlap:
    id: str
    category: str
    max_jaccard: float
    nearest: str  # the most similar training user turn ("" without training data)
    template_count: int
    near_twin: bool


@dataclass
class OverlapReport:
    cases: list[CaseOverlap]
    training_examples: int
    source: str = ""  # where the training turns came from
    threshold: float = NEAR_TWIN_JACCARD
    by_category: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        groups: dict[str, list[CaseOverlap]] = defaultdict(list)
        for c in self.cases:
            groups[c.category].append(c)
        self.by_category = {name: _figures(group) for name, group in sorted(groups.items())}

    @property
    def near_twin_share(self) -> float:
        return _figures(self.cases)["near_twin_share"]

    def summary(self) -> dict[str, Any]:
        """The quality_metrics ``test_train_overlap`` entry."""
        return {**_figures(self.cases), "training_examples": self.training_examples, "near_twin_jaccard": self.threshold,
                "by_category": self.by_category}

    def warning(self) -> str | None:
        share = self.near_twin_share
        if not self.cases or share <= WARN_SHARE:
            return None
        return (f"{share:.0%} of the test cases have a near twin in the training data (same template, or word Jaccard >= "
                f"{self.threshold}): the score measures how well the training phrasings were learned, not the task; "
                "add hand-written cases unlike the training data")


def _figures(cases: Sequence[CaseOverlap]) -> dict[str, Any]:
    n = len(cases)
    return {
        "cases": n,
        "near_twin_share": round(sum(c.near_twin for c in cases) / n, 3) if n else 0.0,
        "template_share": round(sum(c.template_count > 0 for c in cases) / n, 3) if n else 0.0,
        "mean_max_jaccard": round(sum(c.max_jaccard for c in cases) / n, 3) if n else 0.0,
    }


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def grams(text: str) -> frozenset[str]:
    """Lower-cased word 1- and 2-grams."""
    w = [t.lower() for t in words(text)]
    return frozenset(w) | frozenset(f"{a} {b}" for a, b in zip(w, w[1:], strict=False))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def schema_names(system: str) -> set[str]:
    """Lower-cased identifiers of the system turn, their `_` parts and the parts without a plural s."""
    out: set[str] = set()
    for ident in _IDENT.findall(system):
        for part in [ident, *ident.split("_")]:
            part = part.lower()
            if len(part) > 1:
                out |= {part, part[:-1] if part.endswith("s") else part, part + "s"}
    return out


def template(text: str, system: str = "") -> str:
    """``text`` with names and values replaced (see the module doc)."""
    names = schema_names(system)
    out = []
    for i, token in enumerate(words(_QUOTED.sub(" VALUE ", text))):
        low = token.lower()
        if token == "VALUE" or _NUMBER.match(token) or (i > 0 and token[0].isupper()):
            out.append("<v>")
        elif low in names or low.rstrip("s") in names:
            out.append("<n>")
        else:
            out.append(low)
    return " ".join(out)


def measure(cases: Iterable[Any], turns: Sequence[Turn], *, threshold: float = NEAR_TWIN_JACCARD, source: str = "") -> OverlapReport:
    """Per-case overlap of ``cases`` (objects with id, category, input and system) with ``turns``."""
    turn_templates = [template(t.text, t.system) for t in turns]
    turn_grams = [grams(t) for t in turn_templates]
    index: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(turn_grams):
        for gram in g:
            index[gram].append(i)
    templates = Counter(turn_templates)
    out = []
    for case in cases:
        shape = template(case.input, case.system or "")
        g = grams(shape)
        shared = Counter(i for gram in g for i in index.get(gram, ()))
        best, nearest = 0.0, ""
        for i, common in shared.items():
            score = common / (len(g) + len(turn_grams[i]) - common)
            if score > best:
                best, nearest = score, turns[i].text
        count = templates.get(shape, 0)
        out.append(CaseOverlap(case.id, case.category, round(best, 3), nearest, count, count > 0 or best >= threshold))
    return OverlapReport(out, len(turns), source, threshold)


def case_cell(c: CaseOverlap) -> str:
    """A case's figures in one short cell: Jaccard to the nearest training turn, and same-template count."""
    return f"{c.max_jaccard:.2f}" + (f" ·{c.template_count} same" if c.template_count else "") + (" twin" if c.near_twin else "")


def category_lines(report: OverlapReport) -> list[str]:
    """One line per category, then the whole suite."""
    def line(name: str, f: dict[str, Any]) -> str:
        return (f"{name}: {f['near_twin_share']:.0%} of {f['cases']} with a near twin, {f['template_share']:.0%} same template, "
                f"mean max Jaccard {f['mean_max_jaccard']:.2f}")

    rows = [line(name, f) for name, f in report.by_category.items()]
    return rows + [line("all", _figures(report.cases)) + f" (vs {report.training_examples} training examples)"]


def training_turns(path: Path) -> list[Turn]:
    """The user turns (with their system turns) of a prepared training file: JSONL lines with `messages`.
    Lines without messages (raw records) give their `instruction`/`input`; unreadable lines are skipped,
    since this only measures."""
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        messages = record.get("messages")
        if isinstance(messages, list):
            by_role = {m.get("role"): m.get("content") for m in messages if isinstance(m, dict)}
            if isinstance(by_role.get("user"), str):
                turns.append(Turn(by_role["user"], by_role.get("system") or ""))
        elif isinstance(record.get("instruction"), str):
            turns.append(Turn(record["instruction"], str(record.get("input") or "")))
    return turns


def suite_overlap(loaded: Any, cases: Sequence[Any]) -> tuple[OverlapReport | None, str | None]:
    """The overlap of ``cases`` with the manifest's training file, or (None, why) when there is none."""
    path = loaded.model.training.dataset.path
    if not path:
        return None, "test/train overlap not measured: the manifest names no training.dataset.path"
    file = loaded.resolve(path)
    if not Path(file).is_file():
        return None, f"test/train overlap not measured: {path} not found (prepare the dataset first)"
    return measure(cases, training_turns(Path(file)), source=str(path)), None
