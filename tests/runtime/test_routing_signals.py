"""The embedding signals and the base-model rule, on an embedder whose cosines are known in advance.

A tiny random model finds every text alike, so these tests embed with a bag of words over a fixed
vocabulary: texts sharing words are near, others orthogonal. The routing data goes through the
real package-time path (`build_routing_members` -> `parse_routing`).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from expertkit.manifest.model import Manifest
from expertkit.packaging.routing_member import build_routing_members, parse_routing
from expertkit.runtime.routing import BASE_QUANTILE, OWN_QUANTILE, Router, calibrate
from expertkit.runtime.routing_signals import profile_from_manifest

VOCAB = ("how many orders per city total customers dialect sqlite schema tables "
         "poem cats weather learn hard recipe tell").split()


class WordEmbedder:
    """Normalised word counts over VOCAB (an all-zero text embeds to the zero vector)."""

    id = "words:test"
    dim = len(VOCAB)

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word in VOCAB:
                    rows[i, VOCAB.index(word)] += 1
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1, norms)


TRAIN = [("Dialect: sqlite\nSchema:\norders(id, city, total)", "How many orders per city?"),
         ("Dialect: sqlite\nSchema:\ncustomers(id, city)", "How many customers per city?"),
         ("Dialect: sqlite\nSchema:\norders(id, total)", "Total of orders per customers?")]
BASE = ("Tell me a poem about cats.", "Is learning hard?", "How is the weather?", "Tell me a recipe.")


def sql_profile(embedder, prompts=TRAIN):
    manifest = Manifest.model_validate({
        "name": "expert-sql", "version": "0.1.0", "base_models": [{"name": "m"}], "description": "orders",
        "routing": {"keywords": ["sql"]}})
    data = parse_routing(build_routing_members(prompts, "orders", embedder, source="t", source_sha256=""))
    return profile_from_manifest(manifest, routing=data)


@pytest.fixture
def embedder():
    return WordEmbedder()


def test_system_messages_of_the_training_split_are_stored_once_each(embedder):
    data = sql_profile(embedder).routing
    assert data.info["systems"] == 3 and data.systems.shape == (3, embedder.dim)
    dup = sql_profile(WordEmbedder(), prompts=TRAIN + [TRAIN[0]]).routing
    assert dup.info["systems"] == 3


def test_a_schema_like_the_experts_routes_without_any_keyword(embedder):
    router = Router([sql_profile(embedder)], embedder, base_prompts=BASE)
    embedder.calls.clear()
    decision = router.route("Which city is best?", "Tables:\norders(id, city, total)")
    assert embedder.calls == [["Which city is best?"], ["Tables:\norders(id, city, total)"]]  # each text once
    sql = decision.scores[0]
    assert decision.experts == ["expert-sql"] and not sql.keywords
    assert sql.similarity["system"] > 0.6 and sql.signals["system"] == 1.0 and not sql.nearer_base


def test_a_keyword_in_a_request_nearer_the_base_prompts_goes_to_the_base_model(embedder):
    router = Router([sql_profile(embedder)], embedder, base_prompts=BASE)
    decision = router.route("Is sql hard to learn?")
    sql = decision.scores[0]
    assert sql.keywords and sql.nearer_base and sql.score == 0 and decision.experts == []
    assert sql.similarity["examples"] - sql.similarity["base"] < router._gate["expert-sql"][0]
    # the same keyword in a request like the expert's own prompts routes
    decision = router.route("How many sql orders per city?")
    assert decision.experts == ["expert-sql"] and not decision.scores[0].nearer_base
    assert decision.scores[0].signals["examples"] > 0


def test_a_system_message_like_the_experts_overrides_the_base_rule(embedder):
    router = Router([sql_profile(embedder)], embedder, base_prompts=BASE)
    decision = router.route("Is it hard?", "Dialect: sqlite\nSchema:\norders(id, city)")
    assert decision.experts == ["expert-sql"] and not decision.scores[0].nearer_base


def test_without_base_prompts_the_examples_signal_is_absolute_and_nothing_is_kept_out(embedder):
    router = Router([sql_profile(embedder)], embedder, base_prompts=())
    decision = router.route("Is sql hard to learn?")
    sql = decision.scores[0]
    assert "base" not in sql.similarity and not sql.nearer_base and decision.experts == ["expert-sql"]


def test_an_older_package_without_systems_routes_by_its_examples(embedder):
    profile = sql_profile(embedder)
    profile.routing.systems = None  # as parse_routing reads a package made before "systems"
    router = Router([profile], embedder, base_prompts=BASE)
    embedder.calls.clear()
    decision = router.route("How many orders per city?", "Dialect: sqlite")
    assert embedder.calls == [["How many orders per city?"]]  # no system vector needed by anyone
    assert decision.experts == ["expert-sql"] and "system" not in decision.scores[0].similarity


def test_nearer_base_is_in_the_json_scores(embedder):
    decision = Router([sql_profile(embedder)], embedder, base_prompts=BASE).route("Is sql hard to learn?")
    assert decision.to_dict()["scores"][0]["nearer_base"] is True


def test_explain_names_the_base_rule(embedder):
    from expertkit.cli.route import _evidence

    decision = Router([sql_profile(embedder)], embedder, base_prompts=BASE).route("Is sql hard to learn?")
    assert "nearer the base model's prompts" in _evidence(decision.scores[0])


def test_an_expert_whose_own_prompts_look_like_the_base_prompts_still_gets_them(embedder):
    """Per-expert calibration: the base rule's margin comes down to what the expert's own training
    prompts reach, so a poetry expert is not kept out of poetry requests by the base prompts' poem."""
    manifest = Manifest.model_validate({"name": "expert-poem", "version": "0.1.0", "base_models": [{"name": "m"}],
                                        "routing": {"keywords": ["poem"]}})
    train = [(None, "Tell me a poem about cats."), (None, "A poem about the weather."), (None, "Tell me a poem."),
             (None, "A poem about cats.")]
    data = parse_routing(build_routing_members(train, "poems", embedder, source="t", source_sha256=""))
    base = (*BASE, "A poem, please.", "Tell me a poem about the weather.", "Poem about how to learn.")
    router = Router([profile_from_manifest(manifest, routing=data), sql_profile(embedder)], embedder, base_prompts=base)
    assert router._gate["expert-poem"][0] < router._gate["expert-sql"][0]
    decision = router.route("Tell me a poem about cats and the weather.")
    assert decision.experts == ["expert-poem"] and not decision.scores[0].nearer_base
    assert router.route("Is sql hard to learn?").experts == []  # the SQL expert's rule is unchanged


def test_an_older_package_is_not_kept_out_of_a_request_whose_system_message_it_cannot_compare(embedder):
    profile = sql_profile(embedder)
    profile.routing.systems = None
    router = Router([profile], embedder, base_prompts=BASE)
    with_system = router.route("Is sql hard to learn?", "Dialect: sqlite\nSchema:\nusers(id)").scores[0]
    assert not with_system.nearer_base and with_system.score > 0  # the schema may be its input: no rule
    assert router.route("Is sql hard to learn?").scores[0].nearer_base


def test_the_gate_is_what_general_requests_reach_and_never_keeps_out_most_own_prompts():
    """`calibrate` on vectors with known cosines: the gate is the base prompts' BASE_QUANTILE margin
    against the examples, lowered to the own prompts' OWN_QUANTILE margin; full is their median."""
    rng = np.random.default_rng(0)

    def unit(rows):
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    own_dir, base_dir = np.eye(16)[0], np.eye(16)[1]
    examples = unit(own_dir + 0.3 * rng.standard_normal((40, 16)))
    base = unit(base_dir + 0.3 * rng.standard_normal((30, 16)))
    gate, full = calibrate(examples, base)

    def top3(m):
        return np.sort(m, axis=1)[:, ::-1][:, :3].mean(axis=1)

    bb, ee = base @ base.T, examples @ examples.T
    np.fill_diagonal(bb, -np.inf)
    np.fill_diagonal(ee, -np.inf)
    general = top3(base @ examples.T) - top3(bb)
    own = top3(ee) - top3(examples @ base.T)
    assert gate == pytest.approx(min(np.quantile(general, BASE_QUANTILE), np.quantile(own, OWN_QUANTILE)), abs=1e-5)
    assert full == pytest.approx(np.median(own), abs=1e-5) and gate < full
    assert np.mean(general > gate) <= 1 - BASE_QUANTILE + 1e-9 and np.mean(own >= gate) >= 1 - OWN_QUANTILE
    # an expert whose prompts are the base prompts: the gate comes down to its own prompts
    gate_same, _ = calibrate(base[:15], base[15:])
    assert gate_same <= np.quantile(top3((lambda m: (np.fill_diagonal(m, -np.inf), m)[1])(base[:15] @ base[:15].T))
                                     - top3(base[:15] @ base[15:].T), OWN_QUANTILE) + 1e-6


def test_a_keyword_request_that_general_requests_match_as_well_goes_to_the_base_model(embedder):
    """Nearer the expert's examples than the base prompts, by more than the old fixed margin (0.05),
    but by no more than general requests reach (the calibrated gate): the keyword alone doesn't route it."""
    router = Router([sql_profile(embedder)], embedder, base_prompts=BASE)
    gate, full = router._gate["expert-sql"]
    sql = router.route("how many sql city cats poem").scores[0]
    margin = sql.similarity["examples"] - sql.similarity["base"]
    assert sql.keywords and 0.05 < margin < gate < full
    assert sql.nearer_base and sql.score == 0
    # a request as near the examples as the expert's own prompts grades up to a full match
    assert router.route("How many orders per city?").scores[0].signals["examples"] == 1.0
    # without base prompts nothing is calibrated: the keyword routes as before
    assert Router([sql_profile(embedder)], embedder, base_prompts=()).route("how many sql city cats poem").experts == ["expert-sql"]


def test_a_repeated_system_message_is_embedded_once(embedder):
    """One schema per application: its vector is kept; the user message is embedded every time."""
    system = "Dialect: sqlite\nSchema:\norders(id, city, total)"
    router = Router([sql_profile(embedder)], embedder, base_prompts=BASE)
    embedder.calls.clear()
    first = router.route("How many orders per city?", system=system)
    again = router.route("Total of orders per city?", system=system)
    assert embedder.calls == [["How many orders per city?"], [system], ["Total of orders per city?"]]
    assert first.scores[0].similarity["system"] == again.scores[0].similarity["system"] > 0.99
    uncached = Router([sql_profile(embedder)], embedder, base_prompts=BASE, system_cache=0)
    embedder.calls.clear()
    uncached.route("How many orders per city?", system=system)
    uncached.route("How many orders per city?", system=system)
    assert embedder.calls.count([system]) == 2
