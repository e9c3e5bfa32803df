"""The chat session (runtime/chat.py) on real tiny experts, installed in a temp EXPERT_HOME."""

from __future__ import annotations

import threading

import pytest

from expertkit.errors import CompositionError, UsageError
from expertkit.runtime.chat import ANSWER, COMMANDS, DONE, NOTICE, REASONING, ROUTE, ChatSession, parse_command
from tests.runtime.chat_builders import SQL_SYSTEM, chat_home


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_llama_dir):
    return chat_home(tmp_path_factory.mktemp("chat"), tiny_llama_dir)


@pytest.fixture(autouse=True)
def use_home(home, monkeypatch):
    monkeypatch.setenv("EXPERT_HOME", str(home))


@pytest.fixture(scope="module")
def engine(home):
    from expertkit.runtime.launch import open_engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPERT_HOME", str(home))
        engine = open_engine("expert-sql", device="cpu")
    yield engine
    engine.close()


def manifest_router():
    """Manifest signals only: a tiny random model's embeddings say nothing (see test_routing)."""
    from expertkit.runtime.routing import Router

    return Router.from_registry(None)


def session(engine, **kw):
    return ChatSession(engine, router_factory=manifest_router, **kw)


def events(sess, text, cancel=None):
    return list(sess.send(text, cancel))


def test_parse_command():
    assert parse_command("/EXPERTS  a+b ") == ("/experts", "a+b")
    assert parse_command("/base") == ("/base", "")
    with pytest.raises(UsageError, match="unknown command '/nope'"):
        parse_command("/nope x")


def test_named_expert_streams_and_records_the_turn(engine):
    sess = session(engine, experts="expert-sql")
    evs = events(sess, "list the users")
    done = evs[-1]
    assert done.kind == DONE and done.data.experts == ["expert-sql"]
    answer = "".join(e.text for e in evs if e.kind == ANSWER)
    reasoning = "".join(e.text for e in evs if e.kind == REASONING)
    assert answer == done.data.answer and reasoning == (done.data.reasoning or "")
    assert done.data.generation.tokens > 0 and len(sess.history) == 1
    sess.ask("and the orders?")
    assert [t.user for t in sess.history] == ["list the users", "and the orders?"]


def test_earlier_turns_are_in_the_next_prompt(engine):
    sess = session(engine)
    sess.ask("first question")
    messages, dropped = sess._fit("second", engine.resolve([]))
    assert dropped == 0 and [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "first question" and messages[1]["content"] == sess.history[0].answer


def test_bad_experts_leave_the_session_as_it_was(engine):
    sess = session(engine, experts="expert-sql")
    with pytest.raises(CompositionError, match="not installed: expert-nope"):
        sess.command("/experts expert-nope")
    with pytest.raises(CompositionError, match="incompatible"):
        sess.command("/experts expert-xml+expert-json")
    with pytest.raises(UsageError, match="needs expert names"):
        sess.command("/experts")
    assert sess.who == "expert-sql" and sess.mode == "experts"


def test_composition_base_and_auto(engine):
    sess = session(engine)
    reply = sess.command("/experts expert-sql+expert-json")
    assert set(reply.data and [c["name"] for c in reply.data["chain"]]) == {"expert-sql", "expert-json"}
    assert set(sess.ask("hello").experts) == {"expert-sql", "expert-json"}
    sess.command("/base")
    assert sess.ask("hello").experts == []
    assert "3 installed experts" in sess.command("/auto").message
    sess.command("/system " + SQL_SYSTEM)  # the router reads the system message too
    evs = events(sess, "How many books came out before 1950? Use a sqlite query.")
    route = next(e for e in evs if e.kind == ROUTE).data
    assert route.experts == ["expert-sql"] and evs[-1].data.experts == ["expert-sql"]
    assert evs[-1].data.route is route
    sess.command("/system")
    off = events(sess, "Write a haiku about the sea.")
    assert next(e for e in off if e.kind == ROUTE).data.experts == [] and off[-1].data.experts == []


def test_alternatives_are_chosen_per_message_and_each_runs_with_its_own_settings(engine):
    sess = session(engine, think=False)
    reply = sess.command("/experts expert-sql|expert-json")
    assert "one of expert-sql | expert-json" in reply.message and len(reply.data["alternatives"]) == 2
    assert sess.who == "expert-sql|expert-json" and sess.info()["per_message"] and sess.info()["chain"] is None
    sess.command("/system " + SQL_SYSTEM)
    evs = events(sess, "How many books came out before 1950? Use a sqlite query.")
    route = next(e for e in evs if e.kind == ROUTE).data
    turn = evs[-1].data
    assert route.chosen == "expert-sql" and turn.experts == ["expert-sql"] and turn.route is route
    assert turn.answer.startswith("SELECT ")  # expert-sql's grammar: the chosen alternative's own settings
    sess.command("/system")
    off = events(sess, "Write a haiku about the sea.")
    assert next(e for e in off if e.kind == ROUTE).data.chosen is None and off[-1].data.experts == []
    sess.command("/experts expert-json|expert-xml")  # incompatible with each other: fine as alternatives
    with pytest.raises(CompositionError, match=r"alternative 'expert-json\+expert-xml' of .*incompatible"):
        sess.command("/experts expert-json+expert-xml|expert-sql")
    assert sess.who == "expert-json|expert-xml"  # the bad spec changed nothing


def test_switches_system_reset_info_help_exit(engine):
    sess = session(engine, experts="expert-sql")
    assert sess.info()["decoding"]["use_grammar"] is True  # the expert's manifest
    sess.command("/grammar off")
    sess.command("/think on")
    info = sess.info()
    assert info["decoding"]["use_grammar"] is False and info["decoding"]["enable_thinking"] is True
    with pytest.raises(UsageError, match="/think takes on or off"):
        sess.command("/think maybe")
    sess.command("/system You answer in SQL.")
    messages, _ = sess._fit("x", engine.resolve("expert-sql"))
    assert messages[0] == {"role": "system", "content": "You answer in SQL."}
    sess.command("/system Schema:\\nusers(id, name)")  # typed as backslash-n: a schema has one table a line
    assert sess.system == "Schema:\nusers(id, name)"
    sess.ask("one")
    reset = sess.command("/reset").message
    assert "1 turn forgotten" in reset and "system message" in reset and sess.history == []
    assert sess.system == "Schema:\nusers(id, name)"  # only the turns go
    info = sess.info()
    assert info["chain"][0]["name"] == "expert-sql" and info["memory"]["peak_rss_mb"] > 0
    assert info["context"]["window"] == 1024 and info["attached"]["experts"]
    assert [c["command"] for c in sess.command("/help").data["commands"]] == list(COMMANDS)
    assert sess.command("/exit").exit


def test_grammar_on_without_a_grammar_decodes_freely_and_says_so(engine):
    sess = session(engine, grammar=True)
    evs = events(sess, "hello")
    assert any(e.kind == NOTICE and "has no grammar" in e.text for e in evs)
    assert evs[-1].kind == DONE


def test_oldest_turns_are_dropped_to_fit_the_context(engine):
    sess = session(engine, context_tokens=160, max_new_tokens=4)
    notices = []
    for i in range(8):
        notices += [e.text for e in events(sess, f"message number {i} with some words in it") if e.kind == NOTICE]
    assert any("oldest turn" in n and "160 tokens" in n for n in notices), notices
    assert 0 < len(sess.history) < 8 and sess.history[-1].user.startswith("message number 7")
    assert sess.context_used() + 4 <= 160
    with pytest.raises(UsageError, match="does not fit the model's context of 160 tokens"):
        events(sess, "word " * 400)


def test_cancel_stops_the_answer_and_keeps_the_session(engine):
    import torch

    torch.manual_seed(0)  # sampled: a random model's greedy answer is blank lines, held back to the end
    sess = session(engine, experts="expert-sql", grammar=False, temperature=1.0, max_new_tokens=400)
    cancel = threading.Event()
    seen = 0
    for event in sess.send("go on", cancel):
        if event.kind in (ANSWER, REASONING):
            seen += 1
            cancel.set()
        if event.kind == DONE:
            gen = event.data.generation
    assert seen and gen.finish_reason == "cancelled" and gen.tokens < 400
    assert sess.ask("again").generation.finish_reason != "cancelled"
