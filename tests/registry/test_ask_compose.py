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
