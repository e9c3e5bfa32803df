"""`expert-cli ask` answers with an installed expert through the real engine (tiny model)."""

from __future__ import annotations

import json


def test_ask_installed_expert_and_base(cli, make_package):
    pkg = make_package("expert-askme")
    res = cli("install", pkg, "--allow-unsigned")
    assert res.exit_code == 0, res
    res = cli("ask", "expert-askme", "Find all users", "--system", "Schema: users(id)", "--max-new-tokens", "4", "--json")
    assert res.exit_code == 0, res
    out = json.loads(res.stdout)
    assert out["tokens"] <= 4 and "answer" in out and out["backend"] == "decoder"  # the default
    res = cli("ask", "expert-askme", "Find all users", "--system", "Schema: users(id)", "--max-new-tokens", "4", "--json",
              "--backend", "hf")
    assert res.exit_code == 0, res
    hf = json.loads(res.stdout)
    assert hf["backend"] == "hf" and hf["answer"] == out["answer"]  # the reference answers the same
    res = cli("ask", "expert-askme@0.1.0", "Find all users", "--base", "--max-new-tokens", "4", "--json")
    assert res.exit_code == 0, res
    base = json.loads(res.stdout)  # the base model under the expert's settings, to compare like with like
    assert base["experts"] == [] and base["decoding"]["decided_by"] == {"settings": "expert-askme"}
    res = cli("ask", "expert-askme", "hi", "--backend", "vllm")
    assert res.exit_code == 2 and "backend 'vllm' is not known" in res.stderr


def test_ask_unknown_expert_is_one_line(cli):
    res = cli("ask", "expert-nope", "hello")
    assert res.exit_code == 2
    assert "not installed" in res.stderr and "Traceback" not in res.output
