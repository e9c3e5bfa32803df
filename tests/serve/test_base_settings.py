"""`model="base"` answers with the model's own settings, not the first served expert's (issue #18).

The first expert here (alphabetically, so the one whose manifest names the base model) thinks
first, holds its think block to a reasoning rule, answers under a grammar and brings a system
prompt; a base request (and "auto" when the router abstains) must get none of that, while each
expert still gets its own settings per request. Driven with the official `openai` client.
"""

from __future__ import annotations

import openai
import pytest

from tests.runtime.routing_builders import SQL_MANIFEST, routing_fields
from tests.serve.conftest import API_KEY, Server, build

THINKING_GRAMMAR = 'root ::= "SELECT " [a-z]{1,4} ";"\nreasoning ::= "\\nplan: " [a-z]{1,5} "\\n</think>"\n'
THINKING = {"max_new_tokens": 40, "enable_thinking": True, "reasoning_rule": "reasoning"}
USER = [{"role": "user", "content": "Write a haiku about the sea."}]  # off-topic: the router abstains


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_llama_dir):
    from expertkit.registry.install import Options, install
    from tests.packaging.expert_builders import make_lora_adapter

    tmp = tmp_path_factory.mktemp("serve-base")
    home = tmp / "home"
    adapter = make_lora_adapter(tiny_llama_dir, tmp / "adapter")
    packages = [build(tmp, "expert-sql", tiny_llama_dir, adapter, grammar=THINKING_GRAMMAR, decoding=THINKING,
                      fields=routing_fields(SQL_MANIFEST), system_prompt="Dialect: sqlite\nSchema:\nusers(id, name)"),
                build(tmp, "expert-text", tiny_llama_dir, adapter)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPERT_HOME", str(home))
        for package in packages:
            install(str(package), Options(allow_unsigned=True))
    server = Server(home, "--api-key", API_KEY)
    yield openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, timeout=60, max_retries=0)
    server.stop()


def ask(client, model, max_tokens=8):
    return client.chat.completions.create(model=model, messages=USER, max_tokens=max_tokens)


def assert_base(res):
    """Answered in `content` by the base model under no expert's settings: no think block, no grammar."""
    msg, extra = res.choices[0].message, res.model_extra["expertkit"]
    assert isinstance(msg.content, str) and msg.model_extra.get("reasoning_content") is None, msg
    assert not msg.content.startswith("SELECT ")
    assert extra["experts"] == [] and extra["grammar"] is False and extra["decided_by"] == {"settings": None}


def test_base_ignores_the_first_experts_thinking_grammar_and_system_prompt(client):
    base = ask(client, "base")
    assert_base(base)
    plain = ask(client, "expert-text")  # no system prompt, no thinking switch: the same prompt as the base's
    assert base.usage.prompt_tokens == plain.usage.prompt_tokens
    chunks = list(client.chat.completions.create(model="base", messages=USER, max_tokens=8, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert not any(d.model_extra.get("reasoning_content") for d in deltas)
    assert "".join(d.content or "" for d in deltas).strip() == base.choices[0].message.content


def test_each_expert_keeps_its_own_settings(client):
    sql = ask(client, "expert-sql", max_tokens=40)
    msg, extra = sql.choices[0].message, sql.model_extra["expertkit"]
    assert msg.model_extra["reasoning_content"].startswith("plan: ") and msg.content.startswith("SELECT ")
    assert extra["grammar"] is True and extra["decided_by"]["settings"] == "expert-sql"
    assert sql.usage.prompt_tokens > ask(client, "base").usage.prompt_tokens  # its system prompt and <think>
    plain = ask(client, "expert-text").model_extra["expertkit"]
    assert plain["grammar"] is False and plain["decided_by"]["settings"] == "expert-text"


def test_auto_abstaining_answers_with_the_base_settings(client):
    res = ask(client, "auto")
    assert res.model_extra["expertkit"]["route"]["experts"] == []  # the router abstained: the base model
    assert_base(res)
