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
