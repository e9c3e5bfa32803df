"""The engine with the lean decoder behind `run_batch` equals the HF + PEFT backend (greedy, tiny
Llama, real adapters of every kind): single experts, compositions, mixed batches, grammar,
streaming and cancellation."""

from __future__ import annotations

import threading

import pytest

from expertkit.runtime.prompts import Request
from tests.runtime.expert_factory import make_adapter

PROMPTS = ["list the users", "x", "how many orders were placed in total last year?", "count"]
KINDS = ["lora", "dora", "ia3", "prompt_tuning"]
GRAMMAR = 'root ::= "SELECT " [a-z]{1,4} " FROM " ("users" | "orders") ";"\n'


@pytest.fixture(scope="module")
def engines(tiny_llama_dir, tmp_path_factory):
    from expertkit.models.loading import load_base
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import DecodingSettings

    root = tmp_path_factory.mktemp("backend")
    (root / "grammar.gbnf").write_text(GRAMMAR)
    made = {kind: make_adapter(tiny_llama_dir, root / kind, kind, seed=i + 2) for i, kind in enumerate(KINDS)}
    made["lora2"] = make_adapter(tiny_llama_dir, root / "lora2", "lora", seed=11)
    settings = DecodingSettings(max_new_tokens=8, grammar_file=root / "grammar.gbnf")
    pair = {}
    for backend in ("hf", "decoder"):
        eng = InferenceEngine(load_base(str(tiny_llama_dir), device="cpu"), settings, backend=backend)
        for name, path in made.items():
            eng.attach(path, name=name)
        pair[backend] = eng
    yield pair
    for eng in pair.values():
        eng.close()


def _texts(engine, requests, **kw):
    return [g.text for g in engine.generate(requests, **kw)]


@pytest.mark.parametrize("experts", [[], ["lora"], ["dora"], ["ia3"], ["prompt_tuning"], "dora+lora",
                                     "lora:0.7+lora2:0.3", "lora+ia3", "lora+prompt_tuning", "ia3+prompt_tuning", "lora+ia3+prompt_tuning"])
def test_decoder_equals_hf(engines, experts):
    hf, fast = engines["hf"], engines["decoder"]
    assert _texts(fast, PROMPTS, experts=experts, batch_size=4) == _texts(hf, PROMPTS, experts=experts, batch_size=4)


def test_mixed_batch_through_the_decoder(engines):
    rows = [Request(input=p, experts=(k,) if k else ()) for p in PROMPTS[:2] for k in ("lora", "dora", "ia3", "prompt_tuning", None)]
    fast = engines["decoder"].generate(rows, batch_size=len(rows))
    assert {g.batch_size for g in fast} == {len(rows)}  # any chains share one batch in the decoder
    assert [g.text for g in fast] == [engines["hf"].generate([r])[0].text for r in rows]


def test_grammar_stream_and_cancel_through_the_decoder(engines):
    hf, fast = engines["hf"], engines["decoder"]
    kw = {"experts": ["lora"], "use_grammar": True, "enable_thinking": False, "max_new_tokens": 30}
    got = fast.generate(PROMPTS, **kw)
    assert [g.text for g in got] == _texts(hf, PROMPTS, **kw) and all(g.grammar_complete for g in got)
    deltas = list(fast.stream(PROMPTS[2], **kw))
    assert "".join(d.text for d in deltas if d.channel == "answer") == deltas[-1].generation.answer == got[2].answer
    cancel = threading.Event()
    cancel.set()
    [gen] = fast.generate(["count"], experts=["lora"], max_new_tokens=50, cancel=cancel)
    assert gen.finish_reason == "cancelled" and gen.tokens <= 1
    finish = [g.finish_reason for g in fast.generate(PROMPTS, experts=["lora"])]
    assert finish == [g.finish_reason for g in hf.generate(PROMPTS, experts=["lora"])]


def test_the_decoder_is_the_default_and_honours_every_setting(engines, tiny_llama_dir):
    from expertkit.models.loading import load_base
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import DecodingSettings

    with InferenceEngine(load_base(str(tiny_llama_dir), device="cpu"), DecodingSettings(max_new_tokens=4)) as default:
        assert default.decoder is not None
    hf, fast = engines["hf"], engines["decoder"]
    plain = hf.generate(PROMPTS, experts=["lora"], max_new_tokens=12)
    stop = next(g.text[3:5] for g in plain if len(g.text) > 6)  # a string the answers really contain
    for kw in ({"stop_sequences": [stop], "max_new_tokens": 12}, {"min_new_tokens": 8}, {"stop_sequences": ["never said"]}):
        got = fast.generate(PROMPTS, experts=["lora"], **kw)
        want = hf.generate(PROMPTS, experts=["lora"], **kw)
        assert [(g.text, g.finish_reason) for g in got] == [(g.text, g.finish_reason) for g in want], kw
        assert {g.backend for g in got} == {"decoder"} and {g.backend for g in want} == {"hf"}
    assert "stop_sequence" in {g.finish_reason for g in fast.generate(PROMPTS, experts=["lora"], stop_sequences=[stop])}
    assert all(g.tokens == 8 for g in fast.generate(PROMPTS, min_new_tokens=8))
    sampled = fast.generate(PROMPTS, temperature=0.8, top_k=5, min_p=0.05, top_p=0.9)
    assert {g.backend for g in sampled} == {"decoder"}


def test_timing_hooks_count_decoder_steps(engines):
    stamps = []
    with engines["decoder"].step_hook(lambda: stamps.append(1)):
        [gen] = engines["decoder"].generate(["count"], max_new_tokens=6, min_new_tokens=6)
    assert gen.backend == "decoder" and len(stamps) == 6  # the prefill, then one pass per further token
    assert not engines["decoder"].decoder.step_hooks


def test_a_model_the_decoder_cant_run_falls_back_to_hf():
    from types import SimpleNamespace

    from transformers import LlamaConfig, LlamaForCausalLM

    from expertkit.runtime.decoder_backend import make_decoder

    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, attention_bias=True)
    base = SimpleNamespace(model=LlamaForCausalLM(config), warnings=[])
    assert make_decoder(base, 0) is None
    assert "biases" in base.warnings[0] and "transformers generate" in base.warnings[0]
