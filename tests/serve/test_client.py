"""The server as users use it: the official `openai` client (sync, async, streaming, json_schema) and raw
HTTP for the error cases, against a real `expert-cli serve` over tiny installed experts."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from tests.serve.conftest import API_KEY

NO_THINK = {"chat_template_kwargs": {"enable_thinking": False}}
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, timeout=60, max_retries=0)


def post(server, payload, *, key=API_KEY, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/v1/chat/completions", json=payload, headers=headers, timeout=60, **kw)


def user(text="list the users"):
    return [{"role": "user", "content": text}]


def test_models_list_base_experts_with_parent_and_auto(client):
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {"base", "expert-sql", "expert-json", "expert-xml", "auto"}
    base = models["base"].model_extra["root"]
    assert all(models[n].model_extra["parent"] == base for n in ("expert-sql", "expert-json", "auto"))


def test_sync_completion_usage_finish_reason_and_resolved_experts(client):
    res = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=4, extra_body=NO_THINK)
    choice = res.choices[0]
    assert choice.finish_reason in ("stop", "length") and isinstance(choice.message.content, str)
    assert res.usage.completion_tokens <= 4 and res.usage.prompt_tokens > 0
    assert res.usage.total_tokens == res.usage.prompt_tokens + res.usage.completion_tokens
    assert res.model_extra["expertkit"]["experts"] == ["expert-json"]


def test_multi_turn_composition_and_base(client):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]
    res = client.chat.completions.create(model="expert-sql+expert-json", messages=messages, max_completion_tokens=3,
                                         extra_body={**NO_THINK, "use_grammar": False})
    assert sorted(res.model_extra["expertkit"]["experts"]) == ["expert-json", "expert-sql"]
    assert res.usage.prompt_tokens > 20  # every turn is in the prompt
    base = client.chat.completions.create(model="base", messages=messages, max_tokens=3, extra_body=NO_THINK)
    assert base.model_extra["expertkit"]["experts"] == []


def test_greedy_is_deterministic_and_seed_accepted(client):
    answers = {client.chat.completions.create(model="expert-json", messages=user(), max_tokens=5, temperature=0,
                                              extra_body=NO_THINK).choices[0].message.content for _ in range(2)}
    assert len(answers) == 1
    sampled = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=3, temperature=0.8,
                                             top_p=0.9, seed=7, extra_body=NO_THINK)
    assert sampled.usage.completion_tokens <= 3


def test_streaming_chunks_end_with_usage_and_match_the_answer(client):
    stream = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=6, stream=True,
                                            stream_options={"include_usage": True}, extra_body=NO_THINK)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and chunks[-1].choices == [] and chunks[-1].usage.completion_tokens <= 6
    whole = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=6, extra_body=NO_THINK)
    assert text.strip() == whole.choices[0].message.content


def test_n_choices_are_indexed_decoded_in_one_batch_and_usage_sums_them(client):
    one = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=5, temperature=0, extra_body=NO_THINK)
    three = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=5, temperature=0, n=3,
                                           extra_body=NO_THINK)
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert {c.message.content for c in three.choices} == {one.choices[0].message.content}  # greedy: n equal answers
    assert three.usage.prompt_tokens == one.usage.prompt_tokens  # the prompt is counted once, as OpenAI does
    assert three.usage.completion_tokens == 3 * one.usage.completion_tokens
    assert three.model_extra["expertkit"]["batch_size"] == 3
    sampled = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=4, temperature=1.0, seed=3, n=2,
                                             extra_body=NO_THINK)
    assert len(sampled.choices) == 2 and all(c.finish_reason in ("stop", "length") for c in sampled.choices)


def test_n_streamed_choices_interleave_by_index_and_end_with_one_usage(client):
    stream = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=5, temperature=0, n=2, stream=True,
                                            stream_options={"include_usage": True}, extra_body=NO_THINK)
    chunks = list(stream)
    text, finals = {0: "", 1: ""}, {}
    for c in chunks:
        for ch in c.choices:
            text[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finals[ch.index] = ch.finish_reason
    whole = client.chat.completions.create(model="expert-json", messages=user(), max_tokens=5, temperature=0, extra_body=NO_THINK)
    assert text[0].strip() == text[1].strip() == whole.choices[0].message.content and set(finals) == {0, 1}
    assert [c for c in chunks if c.usage] == [chunks[-1]] and chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 2 * whole.usage.completion_tokens


def test_raw_sse_ends_with_done(server):
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60,
                      json={"model": "base", "messages": user(), "max_tokens": 2, "stream": True, **NO_THINK}) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in res.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_async_client_concurrent_requests_share_batches(server):
    async def main():
        aclient = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, timeout=60, max_retries=0)
        models = ["expert-sql", "expert-json", "base", "expert-json"]
        calls = [aclient.chat.completions.create(model=m, messages=user(), max_tokens=4, extra_body={**NO_THINK, "use_grammar": False})
                 for m in models]
        return await asyncio.wait_for(asyncio.gather(*calls), 120)

    results = asyncio.run(main())
    assert [r.model_extra["expertkit"]["experts"] for r in results] == [["expert-sql"], ["expert-json"], [], ["expert-json"]]
    assert max(r.model_extra["expertkit"]["batch_size"] for r in results) >= 2  # mixed experts decoded together


def test_json_schema_and_json_object_are_enforced(client):
    res = client.chat.completions.create(model="expert-json", messages=user("give json"), max_tokens=16, extra_body=NO_THINK,
                                         response_format={"type": "json_schema", "json_schema": {"name": "ok", "schema": SCHEMA}})
    assert json.loads(res.choices[0].message.content)["ok"] in (True, False)
    res = client.chat.completions.create(model="base", messages=user("give json"), max_tokens=8, extra_body=NO_THINK,
                                         response_format={"type": "json_object"})
    assert res.choices[0].message.content.lstrip()[:1] in ("{", "[")


def test_gbnf_grammar_and_manifest_grammar_on_by_default(client):
    res = client.chat.completions.create(model="base", messages=user(), max_tokens=8,
                                         extra_body={**NO_THINK, "grammar": 'root ::= "yes" | "no"'})
    assert res.choices[0].message.content in ("yes", "no") and res.choices[0].finish_reason == "stop"
    sql = client.chat.completions.create(model="expert-sql", messages=user(), max_tokens=6, extra_body=NO_THINK)
    assert sql.choices[0].message.content.startswith("SELECT") and sql.model_extra["expertkit"]["grammar"] is True
    off = client.chat.completions.create(model="expert-sql", messages=user(), max_tokens=6, extra_body={**NO_THINK, "use_grammar": False})
    assert off.model_extra["expertkit"]["grammar"] is False


def test_stop_string_ends_with_stop(client):
    def ask(**kw):
        return client.chat.completions.create(model="base", messages=user(), max_tokens=12, temperature=1.0, seed=3,
                                              extra_body=NO_THINK, **kw).choices[0]  # seeded: the same text twice

    whole = ask(stop=["never said"]).message.content  # a stop list on both: the same backend decodes both
    assert len(whole) >= 4
    cut = ask(stop=[whole[2:4]])
    assert cut.message.content == whole[:whole.index(whole[2:4])].strip() and cut.finish_reason == "stop"


def test_thinking_goes_to_reasoning_content(client):
    thinking = {"chat_template_kwargs": {"enable_thinking": True}}
    res = client.chat.completions.create(model="base", messages=user(), max_tokens=6, temperature=1.0, seed=3, extra_body=thinking)
    msg = res.choices[0].message
    assert "<think>" not in (msg.content or "") and msg.model_extra.get("reasoning_content")
    chunks = list(client.chat.completions.create(model="base", messages=user(), max_tokens=6, temperature=1.0, seed=3,
                                                 stream=True, extra_body=thinking))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
    assert "<think>" not in "".join(d.content or "" for d in deltas)


def test_auto_routes_and_reports_scores(client):
    res = client.chat.completions.create(model="auto", messages=user("hello"), max_tokens=2, extra_body=NO_THINK)
    extra = res.model_extra["expertkit"]
    assert set(extra["scores"]) == {"expert-sql", "expert-json", "expert-xml"} and "route" in extra


def test_alternatives_the_router_picks_one_and_it_runs_alone(client):
    spec = "expert-sql|expert-json"
    sql = client.chat.completions.create(model=spec, messages=[
        {"role": "system", "content": "Dialect: sqlite\nSchema:\nbooks(id, title, year)"},
        {"role": "user", "content": "How many books came out before 1950?"}], max_tokens=6, extra_body=NO_THINK)
    extra = sql.model_extra["expertkit"]
    assert extra["experts"] == ["expert-sql"] and extra["route"]["gate"]["chosen"] == "expert-sql"
    assert [a["spec"] for a in extra["route"]["gate"]["alternatives"]] == ["expert-sql", "expert-json"]
    assert set(extra["scores"]) == {"expert-sql", "expert-json"} and sql.model == spec
    assert sql.choices[0].message.content.startswith("SELECT ")  # expert-sql's own grammar: it ran alone
    deltas = list(client.chat.completions.create(model=spec, messages=user("Extract the name as json: Ana wrote."),
                                                 max_tokens=3, stream=True, extra_body=NO_THINK))
    last = deltas[-1].model_extra["expertkit"]
    assert last["experts"] == ["expert-json"] and last["route"]["gate"]["chosen"] == "expert-json"
    both = client.chat.completions.create(model="expert-json|expert-xml", messages=user("Extract the name as json."),
                                          max_tokens=2, extra_body=NO_THINK)
    assert both.model_extra["expertkit"]["experts"] == ["expert-json"]  # incompatible: fine as alternatives


@pytest.mark.parametrize(("payload", "status", "param"), [
    ({"model": "expert-json||expert-sql"}, 400, "model"),
    ({"model": "expert-json|expert-nope"}, 404, "model"),
    ({"model": "expert-xml+expert-json|expert-sql"}, 400, "model"),
    ({"model": "expert-nope"}, 404, "model"),
    ({"model": "expert-json+expert-nope"}, 404, "model"),
    ({"model": "expert-xml+expert-json"}, 400, "model"),
    ({"model": "expert-json+"}, 400, "model"),
    ({"temperature": -1}, 400, "temperature"),
    ({"top_p": 0}, 400, "top_p"),
    ({"max_tokens": 0}, 400, "max_tokens"),
    ({"max_tokens": 10**6}, 400, "max_tokens"),
    ({"max_tokens": 4000}, 400, "max_tokens"),
    ({"n": 9}, 400, "n"),  # above the test server's --max-queue 8
    ({"logprobs": True}, 400, "logprobs"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
    ({"frobnicate": 1}, 400, "frobnicate"),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400, "messages"),
    ({"grammar": "root ::= (unclosed"}, 400, "grammar"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, 400, "response_format"),
    ({"response_format": {"type": "yaml"}}, 400, "response_format.type"),
    ({"chat_template_kwargs": {"enable_thinking": "maybe"}}, 400, "chat_template_kwargs"),
    ({"stop": [""]}, 400, "stop"),
])
def test_bad_requests_are_4xx_in_openai_shape(server, payload, status, param):
    res = post(server, {"model": "base", "messages": user(), "max_tokens": 2, **payload})
    assert res.status_code == status, res.text
    err = res.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["param"] == param and err["message"]
    assert "Traceback" not in res.text


def test_auth_body_size_and_bad_json(server):
    assert post(server, {"model": "base", "messages": user()}, key=None).status_code == 401
    res = post(server, {"model": "base", "messages": user()}, key="wrong")
    assert res.status_code == 401 and res.json()["error"]["type"] == "authentication_error"
    big = post(server, {"model": "base", "messages": user("x" * (2 << 20))})
    assert big.status_code == 413 and "limit" in big.json()["error"]["message"]
    raw = httpx.post(f"{server.url}/v1/chat/completions", content=b"{not json", timeout=30,
                     headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.json()["error"]["message"]
    assert httpx.get(f"{server.url}/v1/nowhere", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 404
    with pytest.raises(openai.NotFoundError) as err:  # the client sees the status as its own error type
        openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0).chat.completions.create(
            model="expert-nope", messages=user())
    assert "expert-nope" in str(err.value)
