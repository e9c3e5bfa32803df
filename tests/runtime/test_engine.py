"""The inference engine on a tiny real model with a real LoRA adapter (greedy unless noted)."""

from __future__ import annotations

import json

import pytest

from expertkit.errors import UsageError
from expertkit.runtime.prompts import Request

PROMPTS = ["list the users", "x", "how many orders were placed in total last year?", "schema: users(id, name)", "count"]


def test_expert_changes_outputs_and_base_is_a_request(tiny_engine):
    with_adapter = [g.text for g in tiny_engine.generate(PROMPTS)]
    base = [g.text for g in tiny_engine.generate(PROMPTS, experts=[])]
    base_again = [g.text for g in tiny_engine.generate([Request(input=p, experts=()) for p in PROMPTS])]
    assert base == base_again
    assert with_adapter != base
    assert [g.text for g in tiny_engine.generate(PROMPTS)] == with_adapter  # nothing stays switched
    assert tiny_engine.generate(PROMPTS[:1])[0].experts == ["expert-demo"]
    assert tiny_engine.generate(PROMPTS[:1], experts=[])[0].experts == []


@pytest.mark.parametrize("experts", [None, []])
def test_batched_equals_unbatched_greedy(tiny_engine, experts):
    one = tiny_engine.generate(PROMPTS, batch_size=1, experts=experts)
    together = tiny_engine.generate(PROMPTS, batch_size=len(PROMPTS), experts=experts)
    pairs = tiny_engine.generate(PROMPTS, batch_size=2, experts=experts)
    assert [g.text for g in one] == [g.text for g in together] == [g.text for g in pairs]
    assert {g.batch_size for g in together} == {len(PROMPTS)}
    assert {g.batch_size for g in pairs} == {1, 2}


def test_batched_equals_unbatched_on_qwen3(tiny_qwen3_dir, tmp_path):
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_lora, manifest_dict

    adapter = make_lora(tiny_qwen3_dir, tmp_path / "lora", seed=3)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(manifest_dict(tiny_qwen3_dir)))
    with InferenceEngine.from_manifest(manifest, adapter) as engine:
        assert [g.text for g in engine.generate(PROMPTS, batch_size=1)] == [g.text for g in engine.generate(PROMPTS, batch_size=5)]


def test_max_new_tokens_and_finish_reason(tiny_engine):
    gens = tiny_engine.generate(PROMPTS, max_new_tokens=3)
    for g in gens:
        assert g.tokens <= 3
        assert g.finish_reason in ("stop", "length")
        assert (g.finish_reason == "length") == (g.tokens == 3)


def test_stop_sequences_cut_the_answer(tiny_engine):
    full = tiny_engine.generate(["how many orders were placed in total last year?"], max_new_tokens=12)[0]
    stop = full.text[2:4]
    assert len(stop) == 2
    cut = tiny_engine.generate(["how many orders were placed in total last year?"], max_new_tokens=12, stop_sequences=[stop])[0]
    assert cut.finish_reason == "stop_sequence"
    assert cut.text == full.text[: full.text.find(stop)]


def test_sampling_settings_run(tiny_engine):
    gens = tiny_engine.generate(PROMPTS[:2], temperature=0.9, top_p=0.8, top_k=20, min_p=0.01, max_new_tokens=4)
    assert all(g.tokens <= 4 for g in gens)


def test_think_block_is_split_off(tiny_engine):
    tok = tiny_engine.tokenizer
    ids = tok.encode("<think>\nusers table has a name\n</think>\n\nSELECT name FROM users;", add_special_tokens=False)
    stop = tiny_engine.stop_token_ids()[0]
    gen = tiny_engine._finish(ids + [stop, 0, 0], tiny_engine.settings, 5.0, 1, None, False, [])
    assert gen.reasoning == "users table has a name"
    assert gen.answer == "SELECT name FROM users;"
    assert gen.finish_reason == "stop" and gen.tokens == len(ids)


def test_requests_with_system_and_messages(tiny_engine):
    a = tiny_engine.generate([Request(input="q", system="schema: users(id)")])[0]
    b = tiny_engine.generate([[{"role": "system", "content": "schema: users(id)"}, {"role": "user", "content": "q"}]])[0]
    assert a.text == b.text


def test_bad_adapter_paths(tiny_engine, tmp_path):
    from expertkit.runtime.adapter_source import open_adapter

    with pytest.raises(UsageError, match="not found"):
        open_adapter(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no adapter_config.json"):
        open_adapter(tmp_path / "empty")
