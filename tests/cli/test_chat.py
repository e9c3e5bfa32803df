"""`expert-cli chat` driven through a pseudo-terminal (pexpect), and scripted (--prompt, piped stdin).

Real tiny experts installed in a temp EXPERT_HOME; each pty session is a real
`python -m expertkit.cli.main chat` process and every wait is bounded (pexpect timeouts).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.runtime.chat_builders import chat_home

pexpect = pytest.importorskip("pexpect")

START_S = 180  # interpreter + torch + the tiny model, on a loaded 2-core VM
STEP_S = 60
PROMPT = "you> "


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_llama_dir) -> Path:
    return chat_home(tmp_path_factory.mktemp("chat_cli"), tiny_llama_dir)


@pytest.fixture
def use_home(home, monkeypatch):
    monkeypatch.setenv("EXPERT_HOME", str(home))
    return home


def spawn(home: Path, *args: str):
    env = {**os.environ, "EXPERT_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT / "src"),
           "EXPERT_THREADS": "1", "TERM": "dumb", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "expertkit.cli.main", "chat", *args], env=env, encoding="utf-8",
                          timeout=STEP_S, dimensions=(50, 220))
    child.expect_exact(PROMPT, timeout=START_S)
    return child


def say(child, line: str, *expected: str) -> None:
    """Send ``line``; each of ``expected`` (regexes) must appear in order, then the next prompt."""
    child.sendline(line)
    for pattern in expected:
        child.expect(pattern)
    child.expect_exact(PROMPT)


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus


def test_pty_session_streams_and_takes_commands(home):
    child = spawn(home, "expert-sql", "--no-think")  # thinking off: the grammar holds from the first token
    try:
        say(child, "list the users", r"SELECT [a-z]")  # the expert's grammar: visible text even from a random model
        say(child, "/help", r"/experts A\+B", r"/grammar on\|off", r"/exit")
        say(child, "/info", r"chain\s+expert-sql 0\.1\.0", r"loaded experts\s+expert-sql", r"memory\s+model weights",
            r"context\s+\d+ of 1024 tokens, 1 turn")
        say(child, "/experts expert-sql+expert-json", r"experts: expert-json \+ expert-sql")
        say(child, "/experts expert-nope", r"error: not installed: expert-nope")
        say(child, "/experts expert-xml+expert-json", r"error: expert-xml@0\.1\.0 is incompatible with expert-json")
        say(child, "/frobnicate", r"error: unknown command '/frobnicate'", r"hint: /help")
        say(child, "/grammar maybe", r"error: /grammar takes on or off")
        say(child, "/base", r"base model: no expert")
        say(child, "/info", r"answers\s+base model", r"chain\s+base model alone")
        say(child, "/system Dialect: sqlite. Schema: books(id, title, year)", r"system message set")
        say(child, "/auto", r"auto: the router chooses for each message \(3 installed experts\)")
        say(child, "How many books came out before 1950?", r"→ expert-sql \(router confidence")
        child.sendline("/exit")
        assert finish(child) == 0
    finally:
        child.close(force=True)
    history = (home / "chat_history").read_text()
    assert "/experts expert-sql+expert-json" in history and "/exit" in history


def test_pty_ctrl_c_stops_the_answer_not_the_session(home):
    child = spawn(home, "expert-sql", "--no-grammar", "--temperature", "1", "--max-new-tokens", "900")
    try:
        child.sendline("tell me a long story")
        child.expect_exact("story")  # the terminal's echo of the line
        child.expect(r"[^\s]")  # the first streamed characters, long before 900 tokens are done
        child.sendintr()
        child.expect_exact("(stopped)")
        child.expect_exact(PROMPT)
        say(child, "/base", r"base model: no expert")  # the session goes on
        child.sendintr()  # at the prompt: once asks, twice leaves
        child.expect(r"Ctrl-C again")
        child.sendintr()
        assert finish(child) == 130
    finally:
        child.close(force=True)


def test_prompt_answers_once(cli, use_home):
    res = cli("chat", "expert-sql", "--no-think", "--prompt", "list the users", "--device", "cpu")
    assert res.exit_code == 0, res
    assert res.stdout.startswith("SELECT ") and res.stdout.count("\n") == 1
    res = cli("chat", "expert-sql", "--no-think", "--prompt", "list the users", "--max-new-tokens", "3", "--json")
    assert res.exit_code == 0, res
    out = json.loads(res.stdout)
    assert out["experts"] == ["expert-sql"] and out["tokens"] <= 3 and out["route"] is None
    assert "SELECT".startswith(out["answer"][:6]) and out["answer"]


def test_prompt_auto_shows_the_route(cli, use_home):
    res = cli("chat", "--auto", "--prompt", "Write a haiku about the sea.", "--max-new-tokens", "2", "--json")
    assert res.exit_code == 0, res
    out = json.loads(res.stdout)
    assert out["experts"] == [] and out["route"]["experts"] == [] and "→ base model" in res.stderr


def test_piped_stdin_ends_at_eof(cli, use_home):
    res = cli("chat", "expert-sql", "--no-think", input="/experts expert-nope\nlist the users\n/base\n")
    assert res.exit_code == 0, res
    assert "error: not installed: expert-nope" in res.stderr and "SELECT " in res.stdout
    assert "base model: no expert" in res.stderr


def test_usage_errors(cli, use_home):
    res = cli("chat", "--json")
    assert res.exit_code == 2 and "--prompt" in res.output
    res = cli("chat", "expert-sql", "--auto", "--prompt", "x")
    assert res.exit_code == 2 and "not both" in res.output
    res = cli("chat", "expert-nope", "--prompt", "x")
    assert res.exit_code == 2 and "expert-nope is not installed" in res.stderr
