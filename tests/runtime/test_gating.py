"""Gating (runtime/gating.py): alternatives ``a+b|c``, one chosen per request by the router.

Pure tests use a router that returns set scores (the choice rules alone); the others route with
the real router on real tiny packages (manifest signals: keywords and the system message).
"""

from __future__ import annotations

import pytest

from expertkit.errors import CompositionError
from expertkit.runtime.compose import ExpertInfo
from expertkit.runtime.gating import GateDecision, alternatives, choose
from expertkit.runtime.routing import ExpertScore
from tests.runtime.chat_builders import SQL_SYSTEM, chat_home
from tests.runtime.test_compose import lookup_from

JSON_SYSTEM = 'Answer with one JSON object that matches this JSON Schema:\n{"type": "object", "properties": {"name": {"type": "string"}}}'


class SetScores:
    """A router whose scores are given: the gate's rules, apart from how scores are made."""

    embedder = None

    def __init__(self, **scores: float) -> None:
        self.scores = {k.replace("_", "-"): v for k, v in scores.items()}
        self.asked: list[str] = []

    def score(self, prompt, system=None, names=None):
        self.asked = list(names)
        return [ExpertScore(n, "1.0.0", self.scores[n]) for n in names if n in self.scores]

    def route(self, prompt, system=None):
        return "routed"


A, B, C = ExpertInfo("a", "1.0.0"), ExpertInfo("b", "1.0.0"), ExpertInfo("c", "1.0.0")
LOOKUP = lookup_from(A, B, C)


def pick(spec, lookup=LOOKUP, **scores) -> GateDecision:
    return choose(spec, SetScores(**scores), "the request", None, lookup)


def test_the_best_alternative_runs_alone_with_its_weights_as_written():
    d = pick("a:0.5|b", a=0.6, b=0.2)
    assert d.chosen == "a:0.5" and d.run == "a:0.5" and d.experts == ["a"] and d.confidence == 0.6
    assert [row["spec"] for row in d.alternatives] == ["a:0.5", "b"] and d.fallback is None
    assert pick("a:0.5|b", a=0.2, b=0.6).run == "b"


def test_a_chain_alternative_scores_its_weakest_named_member():
    assert pick("a+b|c", a=0.9, b=0.1, c=0.5).chosen == "c"  # a+b is for requests needing both
    d = pick("a+b|c", a=0.9, b=0.7, c=0.5)
    assert d.chosen == "a+b" and d.experts == ["a", "b"] and d.alternatives[0]["members"] == {"a": 0.9, "b": 0.7}


def test_ties_go_to_the_alternative_named_first_and_weak_evidence_is_enough():
    assert pick("a|b", a=0.5, b=0.503).chosen == "a"  # equal to 2 decimals
    assert pick("b|a", a=0.5, b=0.503).chosen == "b"
    assert pick("a|b", a=0.05, b=0.0).chosen == "a"  # below auto's threshold: the user named the candidates


def test_no_alternative_above_zero_is_the_base_model_and_says_why():
    d = pick("a|b", a=0.0, b=0.0)
    assert d.chosen is None and d.run == [] and d.experts == [] and d.abstained
    assert "no alternative of 'a|b' scored above 0" in d.fallback and d.summary().startswith("base model")
    gate = d.to_dict()["gate"]
    assert gate["chosen"] is None and gate["fallback"] == d.fallback and len(gate["alternatives"]) == 2


def test_a_candidate_the_router_does_not_know_scores_zero_with_a_note():
    d = pick("a|b", a=0.4)
    assert d.chosen == "a"
    assert next(s for s in d.scores if s.name == "b").notes == ["the router has no profile of it (not installed): scored 0"]


def test_incompatible_experts_may_be_alternatives_but_not_one_chain():
    x = ExpertInfo("x", "1.0.0", incompatible_with=("y",))
    y = ExpertInfo("y", "1.0.0")
    lookup = lookup_from(x, y, C)
    assert pick("x|y", lookup, x=0.1, y=0.8).experts == ["y"]
    assert pick("x|y", lookup, x=0.8, y=0.1).experts == ["x"]
    with pytest.raises(CompositionError, match=r"alternative 'x\+y' of 'x\+y\|c': x@1.0.0 is incompatible with y@1.0.0"):
        pick("x+y|c", lookup, x=1, y=1, c=1)


def test_constraints_apply_to_the_chosen_alternative_as_to_a_named_chain():
    fmt = ExpertInfo("fmt", "1.0.0", load_order=1)
    a = ExpertInfo("a", "1.0.0", requires=("fmt",), load_order=5)
    short = ExpertInfo("s", "1.0.0", max_chain=1)
    lookup = lookup_from(fmt, a, B, short)
    d = pick("a|b", lookup, a=0.9, b=0.1, fmt=0.0)
    assert d.experts == ["fmt", "a"]  # requires pulled in, load_order applied; fmt's own score does not count
    assert d.alternatives[0]["chain"] == ["fmt", "a"] and d.alternatives[0]["members"] == {"a": 0.9}
    with pytest.raises(CompositionError, match=r"alternative 's\+b' of 's\+b\|a': chain of 2 experts .* max_chain 1"):
        pick("s+b|a", lookup, s=0.1, b=0.1, a=0.9)  # every alternative is checked, whichever would be chosen
    with pytest.raises(CompositionError, match=r"alternative 'nope' of 'a\|nope': not installed: nope"):
        alternatives("a|nope", lookup)


def test_auto_goes_to_the_router_and_only_candidates_are_scored():
    router = SetScores(a=0.3, b=0.2, c=0.9)
    assert choose("auto", router, "x", None, LOOKUP) == "routed"
    assert choose("b+a|a", router, "x", None, LOOKUP).chosen == "a" and router.asked == ["b", "a"]


# -- the real router on real tiny packages ---------------------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_llama_dir):
    return chat_home(tmp_path_factory.mktemp("gating"), tiny_llama_dir)


@pytest.fixture
def router(home, monkeypatch):
    from expertkit.runtime.routing import Router

    monkeypatch.setenv("EXPERT_HOME", str(home))
    return Router.from_registry(None)  # manifest signals: a tiny model's embeddings say nothing


def test_routing_keywords_and_the_system_message_pick_the_alternative(router):
    from expertkit.runtime.pool import installed_lookup

    sql = choose("expert-sql|expert-json", router, "How many books came out before 1950?", SQL_SYSTEM, installed_lookup)
    assert sql.chosen == "expert-sql" and sql.experts == ["expert-sql"]
    assert {"expert-sql", "expert-json"} == {s.name for s in sql.scores}  # expert-xml is no candidate
    js = choose("expert-sql|expert-json", router, "Extract the name: Ana Lima wrote to us.", JSON_SYSTEM, installed_lookup)
    assert js.chosen == "expert-json" and js.alternatives[1]["score"] > js.alternatives[0]["score"]
    off = choose("expert-sql|expert-json", router, "Write a haiku about the sea.", None, installed_lookup)
    assert off.chosen is None and off.experts == [] and off.fallback
    both = choose("expert-json|expert-xml", router, "Extract the name as JSON.", JSON_SYSTEM, installed_lookup)
    assert both.experts == ["expert-json"]  # incompatible with each other: fine as alternatives
