"""`expert-cli ask "a+b"`: installed experts composed by their manifests' constraints (tiny model)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def installed(cli, make_package):
    def install(name: str, **kw) -> None:
        res = cli("install", make_package(name, **kw), "--allow-unsigned")
        assert res.exit_code == 0, res

    return install


def test_requires_pulled_in_and_chain_in_json(cli, installed):
    installed("expert-json")
    installed("expert-sql", requires=["expert-json@>=0.1"])
    res = cli("ask", "expert-sql", "Find all users", "--max-new-tokens", "3", "--json")
    assert res.exit_code == 0, res
    out = json.loads(res.stdout)
    assert [link["name"] for link in out["chain"]] == ["expert-json", "expert-sql"] == out["experts"]
    assert out["chain"][0]["pulled_by"] == "expert-sql"
    assert out["decoding"]["max_new_tokens"] == 3 and out["decoding"]["overridden"] == ["max_new_tokens"]
    assert out["decoding"]["decided_by"]["settings"] == "expert-sql"
    assert {e["name"] for e in out["memory"]["experts"]} == {"expert-json", "expert-sql"}
    res = cli("ask", "expert-sql:0.5+expert-json", "Find all users", "--max-new-tokens", "2", "--json")
    assert res.exit_code == 0, res
    assert [(x["name"], x["weight"]) for x in json.loads(res.stdout)["chain"]] == [("expert-json", 1.0), ("expert-sql", 0.5)]


def test_incompatible_and_missing_are_one_line_errors(cli, installed):
    installed("expert-json")
    installed("expert-xml", incompatible_with=["expert-json"])
    res = cli("ask", "expert-xml+expert-json", "hi", "--max-new-tokens", "2")
    assert res.exit_code == 2, res
    assert "expert-xml@0.1.0 is incompatible with expert-json@0.1.0" in res.stderr and "Traceback" not in res.output
    res = cli("ask", "expert-json+expert-nope", "hi")
    assert res.exit_code == 2 and "not installed: expert-nope" in res.stderr, res


def test_alternatives_the_router_picks_one_and_json_shows_why(cli, tmp_path, tiny_llama_dir):
    from tests.runtime.chat_builders import SQL_SYSTEM, chat_packages

    for package in chat_packages(tmp_path, tiny_llama_dir).values():
        assert cli("install", package, "--allow-unsigned").exit_code == 0
    res = cli("ask", "expert-sql|expert-json", "How many books came out before 1950?", "--system", SQL_SYSTEM,
              "--max-new-tokens", "4", "--json")
    assert res.exit_code == 0, res
    out = json.loads(res.stdout)
    gate = out["route"]["gate"]
    assert gate["chosen"] == "expert-sql" and [a["spec"] for a in gate["alternatives"]] == ["expert-sql", "expert-json"]
    assert gate["alternatives"][0]["score"] > gate["alternatives"][1]["score"] >= 0
    assert {s["expert"] for s in out["route"]["scores"]} == {"expert-sql", "expert-json"}
    assert out["experts"] == ["expert-sql"] == [link["name"] for link in out["chain"]]
    assert out["decoding"]["decided_by"]["grammar"] == "expert-sql" and out["decoding"]["use_grammar"] is True
    human = cli("ask", "expert-json|expert-sql", "Extract the name as JSON: Ana Lima wrote to us.", "--max-new-tokens", "2")
    assert human.exit_code == 0 and "→ expert-json (chosen among expert-json | expert-sql" in human.stderr, human
    res = cli("ask", "expert-sql||expert-json", "hi")
    assert res.exit_code == 2 and "expert spec 'expert-sql||expert-json': alternative 2 of 3 is empty" in res.stderr, res
    res = cli("ask", "expert-json+expert-xml|expert-sql", "hi")
    assert res.exit_code == 2 and "alternative 'expert-json+expert-xml'" in res.stderr and "Traceback" not in res.output
