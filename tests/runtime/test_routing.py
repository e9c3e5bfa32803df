"""The router on real packages (tiny model, real LoRA adapters, built and installed by our code)."""

from __future__ import annotations

import pytest

from tests.runtime.routing_builders import (
    JSON_FIXTURE,
    SQL_MANIFEST,
    SQL_TRAIN,
    build_routed_expert,
    install,
    json_train,
    routing_fields,
)

SQL_SYSTEM = "Dialect: sqlite\nSchema:\nbooks(id, title, year)"
JSON_SYSTEM = 'Answer with one JSON object that matches this JSON Schema:\n{"type": "object", "properties": {"name": {"type": "string"}}}'


@pytest.fixture(scope="session")
def tiny_embedder(tiny_llama_dir):
    from expertkit.models.embedding import load_embedder

    return load_embedder(tiny_llama_dir)


@pytest.fixture(scope="session")
def lora_adapter(tiny_llama_dir, tmp_path_factory):
    from tests.packaging.expert_builders import make_lora_adapter

    return make_lora_adapter(tiny_llama_dir, tmp_path_factory.mktemp("lora") / "adapter")


@pytest.fixture(scope="session")
def packages(tmp_path_factory, tiny_llama_dir, lora_adapter, tiny_embedder):
    """expert-sql and expert-json with routing/ members, and a plain expert-sql without one."""
    tmp = tmp_path_factory.mktemp("routed")
    sql = build_routed_expert(tmp, "expert-sql", routing_fields(SQL_MANIFEST), tiny_llama_dir, lora_adapter,
                              prompts=SQL_TRAIN, embedder=tiny_embedder)
    js = build_routed_expert(tmp, "expert-json", routing_fields(JSON_FIXTURE / "manifest.json"), tiny_llama_dir, lora_adapter,
                             prompts=json_train(), embedder=tiny_embedder)
    plain = build_routed_expert(tmp / "plain", "expert-sql", routing_fields(SQL_MANIFEST), tiny_llama_dir, lora_adapter,
                                prompts=None, embedder=tiny_embedder)
    return {"sql": sql, "json": js, "plain_sql": plain}


@pytest.fixture
def installed(packages):
    install(packages["sql"])
    install(packages["json"])


@pytest.fixture
def router(installed):
    """Manifest signals only: a tiny random model's embeddings find every text alike, so the
    keyword/abstain tests can't use them; the similarity tests below do."""
    from expertkit.runtime.routing import Router

    return Router.from_registry(None)


def test_schema_in_the_system_message_routes_to_sql_with_evidence(router):
    decision = router.route("How many books came out before 1950?", SQL_SYSTEM)
    assert decision.experts == ["expert-sql"]
    top = decision.scores[0]
    assert {"term": "sqlite", "in": ["system"]} in top.keywords
    assert 0.3 <= decision.confidence <= 1 and top.signals["keywords"] == 0.5


def test_json_schema_request_routes_to_json(router):
    decision = router.route("Extract the name: Ana Lima wrote to us.", JSON_SYSTEM)
    assert decision.experts == ["expert-json"]
    assert {m["term"] for m in decision.scores[0].keywords} >= {"json", "json schema", "extract"}


def test_off_topic_abstains_to_the_base_model(router):
    decision = router.route("Write a haiku about the sea.")
    assert decision.experts == [] and decision.abstained
    assert all(s.score < router.threshold for s in decision.scores)
    assert decision.confidence == pytest.approx(1 - decision.scores[0].score)


def test_exclude_keywords_keep_an_expert_out_whatever_else_matched(router):
    decision = router.route("Explain what SQL is and why every database uses it.")
    sql = next(s for s in decision.scores if s.name == "expert-sql")
    assert decision.experts == [] and sql.score == 0
    assert sql.keywords and {m["term"] for m in sql.excluded_by} >= {"explain"}


def test_training_prompt_without_keywords_routes_by_example_similarity(installed, tiny_embedder):
    from expertkit.runtime.routing import Router

    router = Router.from_registry(tiny_embedder)
    prompt = "Which city has the highest total revenue?"  # a training prompt: similarity 1 to its own example
    decision = router.route(prompt)
    sql = next(s for s in decision.scores if s.name == "expert-sql")
    other = next(s for s in decision.scores if s.name == "expert-json")
    assert sql.similarity["nearest_example"] == pytest.approx(1.0, abs=1e-3)  # stored at package time, float16
    assert not sql.keywords and sql.similarity["nearest_example"] > other.similarity["nearest_example"]
    assert decision.embedder == tiny_embedder.id and "description" in sql.similarity


def test_top_k_chains_experts_that_both_match(router):
    prompt = "Write the SQL query, then extract the result as JSON."
    assert router.route(prompt, top_k=1).experts[:1] == router.route(prompt, top_k=2).experts[:1]
    assert set(router.route(prompt, top_k=2).experts) == {"expert-sql", "expert-json"}


def test_priority_breaks_a_tie(tiny_llama_dir):
    from expertkit.manifest.model import Manifest
    from expertkit.runtime.routing import Router
    from expertkit.runtime.routing_signals import profile_from_manifest

    def profile(name: str, priority: float | None):
        return profile_from_manifest(Manifest.model_validate({
            "name": name, "version": "0.1.0", "base_models": [{"name": str(tiny_llama_dir)}],
            "routing": {"keywords": ["invoice"], "priority": priority}}))

    router = Router([profile("expert-a", 0.2), profile("expert-b", 0.9)])
    decision = router.route("Read this invoice")
    assert decision.scores[0].score == decision.scores[1].score
    assert decision.experts == ["expert-b"]
    assert Router([profile("expert-b", None), profile("expert-a", None)]).route("invoice").experts == ["expert-a"]


def test_package_without_routing_member_still_routes_by_its_manifest(packages, tiny_embedder):
    from expertkit.packaging.reader import open_package
    from expertkit.runtime.routing import Router

    assert not [n for n in open_package(packages["plain_sql"]).names if n.startswith("routing/")]
    install(packages["plain_sql"])
    decision = Router.from_registry(tiny_embedder).route("Count the books per year.", SQL_SYSTEM)
    assert decision.experts == ["expert-sql"]
    assert "examples" not in decision.scores[0].similarity and "description" in decision.scores[0].similarity


def test_router_without_embedder_uses_manifest_signals_and_says_why_examples_are_unused(router):
    decision = router.route("How many books came out before 1950?", SQL_SYSTEM)
    assert decision.experts == ["expert-sql"] and decision.embedder is None
    assert not decision.scores[0].similarity
    assert any("not used" in n for n in decision.scores[0].notes)


def test_altered_installed_routing_member_is_refused_and_reported(packages, tiny_embedder):
    from expertkit.packaging.routing_member import ROUTING_EMBEDDINGS
    from expertkit.registry.store import version_dir
    from expertkit.runtime.routing import Router

    install(packages["sql"])
    target = version_dir("expert-sql", "0.1.0") / ROUTING_EMBEDDINGS
    target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:-4] + b"\0\0\0\0")
    decision = Router.from_registry(tiny_embedder).route("How many books?", SQL_SYSTEM)
    sql = decision.scores[0]
    assert any("does not match the installed DIGESTS" in n for n in sql.notes)
    assert "examples" not in sql.similarity and decision.experts == ["expert-sql"]


def _profile(name, *, requires=(), incompatible=(), load_order=None, max_chain=None):
    """A routed candidate as the router holds it: the manifest's identity and constraints."""
    from types import SimpleNamespace

    from expertkit.runtime.routing_signals import ExpertProfile

    constraints = SimpleNamespace(requires=list(requires), incompatible_with=list(incompatible),
                                  load_order=load_order, max_chain=max_chain)
    return ExpertProfile(name=name, version="0.1.0", description="",
                         manifest=SimpleNamespace(name=name, version="0.1.0", constraints=constraints))


def test_routed_chain_goes_through_the_constraint_resolver(tmp_path, monkeypatch):
    """Constraints apply to routed chains exactly as to named ones (one resolver)."""
    from expertkit.runtime.routing import resolve_routed_chain

    monkeypatch.setenv("EXPERT_HOME", str(tmp_path))  # nothing installed: only the routed experts exist
    # load_order decides application order, whatever the router's ranking
    assert resolve_routed_chain([_profile("a", load_order=9), _profile("b", load_order=1)]) == ["b", "a"]
    # incompatible experts can't be composed: the best one answers alone
    assert resolve_routed_chain([_profile("a", incompatible=["b"]), _profile("b")]) == ["a"]
    # the smallest max_chain caps the routed chain too
    assert resolve_routed_chain([_profile("a", max_chain=1), _profile("b")]) == ["a"]
    # a requirement among the routed experts is pulled in before the one requiring it
    assert resolve_routed_chain([_profile("a", requires=["b"]), _profile("b")]) == ["b", "a"]
    assert resolve_routed_chain([]) == []
