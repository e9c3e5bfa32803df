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
    assert out["tokens"] <= 4 and "answer" in out
    res = cli("ask", "expert-askme@0.1.0", "Find all users", "--base", "--max-new-tokens", "4")
    assert res.exit_code == 0, res


def test_ask_unknown_expert_is_one_line(cli):
    res = cli("ask", "expert-nope", "hello")
    assert res.exit_code == 2
    assert "not installed" in res.stderr and "Traceback" not in res.output
