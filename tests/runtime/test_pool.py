"""The expert pool on the tiny Llama with real PEFT adapters of every type: each kind equals PEFT's
own computation, compositions equal PEFT's multi-adapter forward, misfits are refused at attach,
LRU eviction, swaps, mixed batches, streaming and cancellation."""

from __future__ import annotations

import threading

import pytest

from expertkit.errors import CompositionError, UsageError
from expertkit.runtime.prompts import Request, build_prompt
from tests.runtime.expert_factory import make_adapter

PROMPTS = ["list the users", "x", "how many orders were placed in total last year?", "count"]
KINDS = ["lora", "dora", "ia3", "prompt_tuning"]


@pytest.fixture(scope="module")
def adapters(tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    made = {kind: make_adapter(tiny_llama_dir, root / kind, kind, seed=i + 2) for i, kind in enumerate(KINDS)}
    made["lora2"] = make_adapter(tiny_llama_dir, root / "lora2", "lora", seed=11)
    made["lora3"] = make_adapter(tiny_llama_dir, root / "lora3", "lora", seed=12)
    made["prompt2"] = make_adapter(tiny_llama_dir, root / "prompt2", "prompt_tuning", seed=13)
    return made


@pytest.fixture(scope="module")
def engine(tiny_llama_dir, adapters):
    from expertkit.models.loading import load_base
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import DecodingSettings

    # the HF + PEFT backend: the pool's own mechanics and the reference (the decoder's tests compare to it)
    eng = InferenceEngine(load_base(str(tiny_llama_dir), device="cpu"), DecodingSettings(max_new_tokens=8), backend="hf")
    for name, path in adapters.items():
        eng.attach(path, name=name)
    yield eng
    eng.close()


def _bare(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)).eval()


def _reference(model, engine, prompt: str, tokens: int = 8) -> str:
    """Greedy text from a plain (PEFT) model, cut at the first stop token, as the engine does."""
    import torch

    ids = torch.tensor([engine.tokenizer.encode(build_prompt(Request(input=prompt).to_messages(), None), add_special_tokens=False)])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, do_sample=False,
                             eos_token_id=engine.stop_token_ids(), pad_token_id=engine.tokenizer.pad_token_id)
    new = out[0, ids.shape[1]:].tolist()
    stops = set(engine.stop_token_ids())
    end = next((k for k, t in enumerate(new) if t in stops), len(new))
    return engine.tokenizer.decode(new[:end], skip_special_tokens=False)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_equals_peft(engine, adapters, tiny_llama_dir, kind):
    from peft import PeftModel

    reference = PeftModel.from_pretrained(_bare(tiny_llama_dir), str(adapters[kind])).eval()
    got = engine.generate(PROMPTS, experts=[kind], batch_size=len(PROMPTS))
    base = engine.generate(PROMPTS, experts=[])
    if kind == "ia3":  # the random tiny base answers newlines whatever the scales: compare logits
        import torch

        ids = torch.tensor([[5, 6, 7, 8, 9]])
        with engine.pool.activate(((kind, 1.0),)):
            scaled = _logits(engine.pool.model, ids)
        torch.testing.assert_close(scaled, _logits(reference, ids))
        assert not torch.allclose(scaled, _logits(engine.pool.bare, ids))
    elif kind == "prompt_tuning":  # the random tiny base repeats itself whatever the prefix: compare logits
        import torch

        ids = torch.tensor([[5, 6, 7, 8, 9]])
        with engine.pool.activate(((kind, 1.0),)) as soft, torch.inference_mode():
            embeds = torch.cat([soft.unsqueeze(0), engine.pool.model.get_input_embeddings()(ids)], dim=1)
            prefixed = engine.pool.model(inputs_embeds=embeds).logits[:, -1]
        torch.testing.assert_close(prefixed, _logits(reference, ids)[:, -1])
        assert not torch.allclose(prefixed, _logits(engine.pool.bare, ids)[:, -1])
    else:
        assert [g.text for g in got] != [g.text for g in base], "the adapter must change outputs"
    for prompt, gen in zip(PROMPTS, got, strict=True):
        assert gen.text == _reference(reference, engine, prompt), (kind, prompt)
        assert gen.experts == [kind]


def _logits(model, ids):
    import torch

    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


def test_weighted_lora_composition_equals_peft_weighted_adapter(engine, adapters, tiny_llama_dir):
    import torch
    from peft import PeftModel

    ids = torch.tensor([engine.tokenizer.encode("hello composed world", add_special_tokens=False)])
    reference = PeftModel.from_pretrained(_bare(tiny_llama_dir), str(adapters["lora"]), adapter_name="lora")
    reference.load_adapter(str(adapters["lora2"]), adapter_name="lora2")
    reference.add_weighted_adapter(["lora", "lora2"], [0.7, 0.3], "mix", combination_type="cat")
    reference.set_adapter("mix")
    chain = engine.resolve("lora:0.7+lora2:0.3").chain
    with engine.pool.activate(chain.key):
        got = _logits(engine.pool.model, ids)
    torch.testing.assert_close(got, _logits(reference, ids), rtol=1e-4, atol=1e-5)
    with engine.pool.activate((("lora", 1.0),)):  # the weights were undone
        single = _logits(engine.pool.model, ids)
    reference.set_adapter("lora")
    torch.testing.assert_close(single, _logits(reference, ids), rtol=1e-4, atol=1e-5)


def test_dora_plus_lora_equals_peft_multi_adapter(engine, adapters, tiny_llama_dir):
    import torch
    from peft import PeftModel

    ids = torch.tensor([engine.tokenizer.encode("dora and lora together", add_special_tokens=False)])
    reference = PeftModel.from_pretrained(_bare(tiny_llama_dir), str(adapters["dora"]), adapter_name="dora")
    reference.load_adapter(str(adapters["lora"]), adapter_name="lora")
    reference.base_model.set_adapter(["dora", "lora"])
    with engine.pool.activate((("dora", 1.0), ("lora", 1.0))):
        got = _logits(engine.pool.model, ids)
    torch.testing.assert_close(got, _logits(reference, ids), rtol=1e-4, atol=1e-5)
    gens = engine.generate(PROMPTS[:2], experts="dora+lora")
    assert all(g.experts == ["dora", "lora"] for g in gens)


def test_ia3_lora_and_soft_prompts_compose(engine):
    import torch

    alone = {k: engine.generate(PROMPTS, experts=[k]) for k in ("lora", "ia3", "prompt_tuning")}
    together = engine.generate(PROMPTS, experts="lora+ia3+prompt_tuning")
    assert all(g.experts == ["lora", "ia3", "prompt_tuning"] for g in together)
    assert [g.text for g in together] not in [[g.text for g in gens] for gens in alone.values()]
    with engine.pool.activate((("prompt2", 1.0), ("prompt_tuning", 1.0))) as soft:
        first, second = engine.pool.get("prompt2").soft_prompt, engine.pool.get("prompt_tuning").soft_prompt
        assert torch.equal(soft, torch.cat([first, second]))  # prepended in application order


def test_weights_on_scales_and_prompts_are_refused(engine):
    for spec in ("ia3:0.5", "prompt_tuning:2"):
        with pytest.raises(CompositionError, match="weight"):
            engine.generate(["x"], experts=spec)


def test_misfit_refused_at_attach(engine, tiny_qwen3_dir, tiny_llama_dir, tmp_path):
    from expertkit.models.tiny import build_tiny_model
    from tests.runtime.expert_factory import make_lora

    wide = build_tiny_model(tmp_path / "wide", "llama", hidden_size=96)
    bad = make_lora(wide, tmp_path / "wide_lora")
    with pytest.raises(UsageError, match=r"does not fit base model .*has shape \[4, \d+\], the model needs \[r, \d+\]"):
        engine.attach(bad, name="wide")
    assert "wide" not in engine.pool
    qwen_ia3 = make_adapter(tiny_qwen3_dir, tmp_path / "qwen_ia3", "ia3")
    engine.attach(qwen_ia3, name="same-shapes")  # same shapes: fits (the registry checks the base model's name)
    engine.detach("same-shapes")
    with pytest.raises(CompositionError, match="not installed: same-shapes"):
        engine.generate(["x"], experts=["same-shapes"])


def test_memory_is_measured_per_expert(engine):
    report = engine.pool.memory()
    by_name = {e["name"]: e for e in report["experts"]}
    assert set(by_name) >= set(KINDS)
    for name in KINDS:
        assert by_name[name]["param_mb"] > 0 and by_name[name]["kind"] == name and by_name[name]["attach_ms"] > 0
    assert engine.pool.get("lora").param_bytes == sum(
        p.numel() * p.element_size() for n, p in engine.pool.model.named_parameters() if ".lora." in n and "lora_" in n
    )


def test_lru_eviction_by_count_and_bytes(tiny_llama_dir, adapters):
    from expertkit.models.loading import load_base
    from expertkit.runtime.pool import ExpertPool

    pool = ExpertPool(load_base(str(tiny_llama_dir), device="cpu"), max_experts=2)
    pool.attach(adapters["lora"], name="a")
    pool.attach(adapters["ia3"], name="b")
    with pool.activate((("a", 1.0),)):
        pass  # a is now the most recently used
    pool.attach(adapters["lora2"], name="c")
    assert [e.name for e in pool.experts()] == ["a", "c"]
    size = pool.get("a").param_bytes
    pool.max_experts, pool.max_bytes = None, size * 2 + 1
    pool.attach(adapters["lora3"], name="d")  # c and d are the same size as a: one must go
    assert [e.name for e in pool.experts()] == ["c", "d"]
    with pytest.raises(CompositionError, match="more than the pool's whole budget"):
        ExpertPool(pool.base, max_bytes=10).attach(adapters["dora"], name="big")
    for name in [e.name for e in pool.experts()]:
        pool.detach(name)
    assert pool.peft is None and pool.model is pool.bare  # the last LoRA took PEFT's wrapper with it


def test_swaps_equal_a_fresh_engine(engine, tiny_llama_dir, adapters):
    from expertkit.models.loading import load_base
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import DecodingSettings

    seen = {}
    for name in ["lora", "dora", "lora2", "ia3", "lora", "prompt_tuning", "dora"]:
        text = [g.text for g in engine.generate(PROMPTS[:2], experts=[name])]
        assert seen.setdefault(name, text) == text
    for name in ("dora", "ia3"):
        with InferenceEngine(load_base(str(tiny_llama_dir), device="cpu"), DecodingSettings(max_new_tokens=8)) as fresh:
            fresh.attach(adapters[name], name=name)
            assert [g.text for g in fresh.generate(PROMPTS[:2], experts=[name])] == seen[name]


def test_mixed_batch_equals_each_row_alone(engine):
    rows = [Request(input=p, experts=(name,) if name else ()) for p in PROMPTS for name in ("lora", "lora2", "lora3", None)]
    alone = [engine.generate([r], batch_size=1)[0] for r in rows]
    together = engine.generate(rows, batch_size=len(rows))
    assert [g.text for g in together] == [g.text for g in alone]
    assert {g.batch_size for g in together} == {len(rows)}  # one batch: PEFT's per-row adapter_names
    mixed = [Request(input="x", experts=(k,)) for k in ("dora", "ia3", "lora", "prompt_tuning")]
    grouped = engine.generate(mixed, batch_size=8)
    assert [g.text for g in grouped] == [engine.generate([r])[0].text for r in mixed]
    assert [g.batch_size for g in grouped] == [1, 1, 1, 1]  # kinds PEFT can't mix run per chain


def test_streaming_equals_generate(engine):
    streamed_pieces = 0
    for experts in (["lora"], [], "dora+lora", ["lora2"]):
        for thinking in (None, True):
            for prompt in PROMPTS:
                deltas = list(engine.stream(prompt, experts=experts, max_new_tokens=12, enable_thinking=thinking))
                final = deltas[-1].generation
                again = engine.generate([prompt], experts=experts, max_new_tokens=12, enable_thinking=thinking)[0]
                assert (final.text, final.answer, final.reasoning) == (again.text, again.answer, again.reasoning)
                assert "".join(d.text for d in deltas if d.channel == "answer") == final.answer
                assert "".join(d.text for d in deltas if d.channel == "reasoning") == (final.reasoning or "")
                streamed_pieces = max(streamed_pieces, len([d for d in deltas[:-1] if d.text]))
    assert streamed_pieces >= 3  # text really arrives in pieces


def test_cancellation_stops_decoding(engine):
    cancel = threading.Event()
    seen = 0
    stream = engine.stream("how many orders were placed in total last year?", experts=["lora"], max_new_tokens=200,
                           min_new_tokens=200, cancel=cancel)
    for delta in stream:
        if delta.generation is not None:
            final = delta.generation
            break
        seen += 1
        if seen == 3:
            cancel.set()
    assert final.finish_reason == "cancelled" and final.tokens < 20
    pre = threading.Event()
    pre.set()
    [gen] = engine.generate(["x"], experts=["lora"], max_new_tokens=50, min_new_tokens=50, cancel=pre)
    assert gen.finish_reason == "cancelled" and gen.tokens <= 1
    it = engine.stream("count", experts=[], max_new_tokens=200, min_new_tokens=200)
    next(it)
    it.close()  # closing the stream early stops the decode thread (no hang)
