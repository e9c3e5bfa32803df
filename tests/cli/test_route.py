"""`expert-cli route` on installed real packages (tiny model)."""

from __future__ import annotations

import json

from tests.runtime.test_routing import SQL_SYSTEM, installed, lora_adapter, packages, tiny_embedder  # noqa: F401 - fixtures


def test_route_json_names_the_chain_confidence_and_scores(cli, installed):  # noqa: F811
    res = cli("route", "How many books came out before 1950?", "--system", SQL_SYSTEM, "--embedder", "none", "--json")
    assert res.exit_code == 0, res
    out = json.loads(res.stdout)
    assert out["experts"] == ["expert-sql"] and 0 < out["confidence"] <= 1
    assert {s["expert"] for s in out["scores"]} == {"expert-sql", "expert-json"}
    assert {"term": "sqlite", "in": ["system"]} in out["scores"][0]["keywords"]


def test_route_abstains_and_explains(cli, installed):  # noqa: F811
    res = cli("route", "Write a haiku about the sea.", "--embedder", "none", "--explain")
    assert res.exit_code == 0, res
    assert "base model" in res.stdout and "expert-sql" in res.stdout and "expert-json" in res.stdout
    res = cli("route", "Explain what SQL is", "--embedder", "none", "--explain")
    assert "excluded by 'explain'" in res.stdout


def test_route_with_nothing_installed_is_the_base_model(cli):
    res = cli("route", "hello", "--embedder", "none", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["experts"] == []
    assert "no experts installed" in res.stderr


def test_route_bad_embedder_is_a_usage_error(cli):
    res = cli("route", "hello", "--embedder", "/no/such/dir")
    assert res.exit_code == 2 and "embedder" in res.output
