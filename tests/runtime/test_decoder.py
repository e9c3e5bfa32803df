"""The fast decoder equals HF generate (base) and PEFT (every adapter type), greedy, on tiny Llama and Qwen3."""

from __future__ import annotations

import pytest

from expertkit.errors import UsageError
from expertkit.runtime.decoder import Decoder
from tests.runtime.decoder_models import PROMPTS, STOP, hf_generate, load, make_adapter, nested_peft, no_cache_greedy, sharpen


@pytest.fixture(scope="module")
def sharp_dirs(tiny_llama_dir, tiny_qwen3_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("sharp")
    return {"llama": sharpen(tiny_llama_dir, root / "llama"), "qwen3": sharpen(tiny_qwen3_dir, root / "qwen3")}


@pytest.fixture(scope="module")
def adapters(sharp_dirs, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {(arch, kind): make_adapter(d, root / f"{arch}-{kind}", kind, seed=i)
            for arch, d in sharp_dirs.items() for i, kind in enumerate(["lora", "dora", "ia3", "prompt"])}


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
def test_base_greedy_equals_hf_generate_batched(sharp_dirs, arch):
    model = load(sharp_dirs[arch])
    reference = hf_generate(model, PROMPTS, 10)
    assert Decoder(model).run(PROMPTS, None, max_new_tokens=10, stop_ids=STOP) == reference
    assert len({tuple(r) for r in reference}) == len(PROMPTS)  # the check means something


def test_unfused_layout_equals_fused(sharp_dirs):
    fused = Decoder(load(sharp_dirs["llama"])).run(PROMPTS, None, max_new_tokens=6, stop_ids=STOP)
    assert Decoder(load(sharp_dirs["llama"]), fuse=False).run(PROMPTS, None, max_new_tokens=6, stop_ids=STOP) == fused


def test_hf_model_still_runs_on_the_shared_fused_weights(sharp_dirs):
    model = load(sharp_dirs["qwen3"])
    before = hf_generate(model, PROMPTS[:1])
    Decoder(model)
    assert hf_generate(model, PROMPTS[:1]) == before


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
@pytest.mark.parametrize("kind", ["lora", "dora", "ia3", "prompt"])
def test_each_adapter_type_equals_peft(sharp_dirs, adapters, arch, kind):
    from peft import PeftModel

    path = adapters[(arch, kind)]
    peft_model = PeftModel.from_pretrained(load(sharp_dirs[arch]), str(path))
    if kind == "prompt":  # PEFT puts virtual tokens before the padding, and its cached generate drifts from
        prompts = PROMPTS[:1]  # its own forward (positions, transformers 5): the forward is the definition
        reference = [no_cache_greedy(peft_model, prompts[0])]
    else:
        prompts, reference = PROMPTS, hf_generate(peft_model, PROMPTS)
    decoder = Decoder(load(sharp_dirs[arch]))
    decoder.attach("x", path)
    assert decoder.run(prompts, [(("x", 1.0),)] * len(prompts), max_new_tokens=8, stop_ids=STOP) == reference
    assert reference != decoder.run(prompts, None, max_new_tokens=8, stop_ids=STOP)  # the adapter matters
    # the same chain through the per-row (unmerged) path: one base row forces the mixed batch
    mixed = decoder.run([*prompts, PROMPTS[1]], [*[(("x", 1.0),)] * len(prompts), ()], max_new_tokens=8, stop_ids=STOP)
    assert mixed[:len(prompts)] == reference


@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_lora_on_some_layers_equals_peft(sharp_dirs, tmp_path, kind):
    """PEFT's layers_to_transform (examples/expert-json adapts only its top layers)."""
    from peft import PeftModel

    path = make_adapter(sharp_dirs["llama"], tmp_path / kind, kind, seed=7, layers=[1])
    reference = hf_generate(PeftModel.from_pretrained(load(sharp_dirs["llama"]), str(path)), PROMPTS)
    decoder = Decoder(load(sharp_dirs["llama"]))
    decoder.attach("x", path)
    assert decoder.run(PROMPTS, [(("x", 1.0),)] * len(PROMPTS), max_new_tokens=8, stop_ids=STOP) == reference
    assert reference != decoder.run(PROMPTS, None, max_new_tokens=8, stop_ids=STOP)
    mixed = decoder.run([*PROMPTS, PROMPTS[1]], [*[(("x", 1.0),)] * len(PROMPTS), ()], max_new_tokens=8, stop_ids=STOP)
    assert mixed[:len(PROMPTS)] == reference


def test_mixed_batch_rows_equal_each_row_alone(sharp_dirs, adapters):
    decoder = Decoder(load(sharp_dirs["llama"]))
    for kind in ("lora", "dora", "ia3", "prompt"):
        decoder.attach(kind, adapters[("llama", kind)])
    chains = [(("lora", 1.0),), (("dora", 1.0),), (("ia3", 1.0),), (("prompt", 1.0),), (("lora", 0.5), ("dora", 1.0)), ()]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(len(chains))]
    together = decoder.run(prompts, chains, max_new_tokens=8, stop_ids=STOP)
    alone = [decoder.run([p], [c], max_new_tokens=8, stop_ids=STOP)[0] for p, c in zip(prompts, chains, strict=True)]
    assert together == alone
    assert len({tuple(r) for r in together}) > 3


@pytest.mark.parametrize("pack", [True, False])
def test_rows_leaving_the_batch_early_keep_the_others_exact(sharp_dirs, adapters, pack):
    """Finished rows leave the forward pass (their cache rows, per-row deltas, pads and masks are
    dropped): the rows still decoding must go on exactly as they would alone, whatever leaves when."""
    decoder = Decoder(load(sharp_dirs["llama"]), pack_batches=pack)
    for kind in ("lora", "dora", "ia3", "prompt"):
        decoder.attach(kind, adapters[("llama", kind)])
    chains = [(("lora", 1.0),), (), (("dora", 1.0),), (("prompt", 1.0),), (("ia3", 1.0),), (("lora", 0.5), ("dora", 1.0))]
    prompts = [PROMPTS[i % len(PROMPTS)][: 3 + i % 3] for i in range(len(chains))]  # different lengths: left padding
    cut_at = {0: 2, 2: 5, 3: 1, 5: 7}  # row -> tokens it keeps before it is cancelled
    counts = [0] * len(chains)
    widths: list[int] = []

    def on_token(row: int, token: int) -> bool:
        counts[row] += 1
        return counts[row] < cut_at.get(row, 99)

    def every_row(ids, scores):
        widths.append(scores.shape[0])
        return scores

    together = decoder.run(prompts, chains, max_new_tokens=10, stop_ids=[], on_token=on_token, logits_processor=every_row)
    alone = [decoder.run([p], [c], max_new_tokens=10, stop_ids=[])[0] for p, c in zip(prompts, chains, strict=True)]
    assert together == [a[:cut_at.get(r, 10)] for r, a in enumerate(alone)]
    assert set(widths) == {len(chains)}  # the processor always sees every row


def test_lora_composition_equals_peft_weighted_adapter(sharp_dirs, tmp_path):
    from peft import PeftModel

    a = make_adapter(sharp_dirs["llama"], tmp_path / "a", "lora", seed=11)
    b = make_adapter(sharp_dirs["llama"], tmp_path / "b", "lora", seed=12)
    peft_model = PeftModel.from_pretrained(load(sharp_dirs["llama"]), str(a), adapter_name="a")
    peft_model.load_adapter(str(b), adapter_name="b")
    peft_model.add_weighted_adapter(["a", "b"], [0.7, 0.3], "mix", combination_type="cat")
    peft_model.set_adapter("mix")
    reference = hf_generate(peft_model, PROMPTS)
    decoder = Decoder(load(sharp_dirs["llama"]))
    decoder.attach("a", a)
    decoder.attach("b", b)
    chain = (("a", 0.7), ("b", 0.3))
    assert decoder.run(PROMPTS, [chain] * 4, max_new_tokens=8, stop_ids=STOP) == reference  # merged
    assert decoder.run(PROMPTS, [chain, chain, chain, ()], max_new_tokens=8, stop_ids=STOP)[:3] == reference[:3]  # per row


def test_dora_composition_equals_peft_several_active_adapters(sharp_dirs, adapters, tmp_path):
    from peft import PeftModel

    a, b = adapters[("qwen3", "dora")], make_adapter(sharp_dirs["qwen3"], tmp_path / "b", "dora", seed=21)
    peft_model = PeftModel.from_pretrained(load(sharp_dirs["qwen3"]), str(a), adapter_name="a")
    peft_model.load_adapter(str(b), adapter_name="b")
    peft_model.base_model.set_adapter(["a", "b"])
    reference = hf_generate(peft_model, PROMPTS)
    decoder = Decoder(load(sharp_dirs["qwen3"]))
    decoder.attach("a", a)
    decoder.attach("b", b)
    assert decoder.run(PROMPTS, [(("a", 1.0), ("b", 1.0))] * 4, max_new_tokens=8, stop_ids=STOP) == reference


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
@pytest.mark.parametrize("order", [("lora", "ia3"), ("ia3", "lora"), ("dora", "ia3"), ("ia3", "dora")])
def test_ia3_around_lora_and_dora_equals_peft_loaded_on_top(sharp_dirs, adapters, arch, order):
    reference = hf_generate(nested_peft(load(sharp_dirs[arch]), [(k, adapters[(arch, k)]) for k in order]), PROMPTS)
    decoder = Decoder(load(sharp_dirs[arch]))
    for kind in order:
        decoder.attach(kind, adapters[(arch, kind)])
    chain = tuple((k, 1.0) for k in order)
    assert decoder.run(PROMPTS, [chain] * 4, max_new_tokens=8, stop_ids=STOP) == reference  # merged
    assert decoder.run(PROMPTS, [chain] * 3 + [()], max_new_tokens=8, stop_ids=STOP)[:3] == reference[:3]  # per row
    flipped = tuple(reversed(chain))
    assert decoder.run(PROMPTS, [flipped] * 4, max_new_tokens=8, stop_ids=STOP) != reference  # the order matters


def test_ia3_between_lora_and_dora_equals_peft_loaded_on_top(sharp_dirs, adapters, tmp_path):
    # DoRA on other modules than the LoRA (PEFT would add a second adapter to a shared LoRA layer, not wrap it)
    dora = make_adapter(sharp_dirs["llama"], tmp_path / "dora-kg", "dora", seed=31, targets=["k_proj", "gate_proj"])
    order = [("lora", adapters[("llama", "lora")]), ("ia3", adapters[("llama", "ia3")]), ("dora", dora)]
    reference = hf_generate(nested_peft(load(sharp_dirs["llama"]), order), PROMPTS)
    decoder = Decoder(load(sharp_dirs["llama"]))
    for name, path in order:
        decoder.attach(name, path)
    chain = tuple((name, 1.0) for name, _ in order)
    assert decoder.run(PROMPTS, [chain] * 4, max_new_tokens=8, stop_ids=STOP) == reference
    assert decoder.run(PROMPTS, [chain] * 3 + [()], max_new_tokens=8, stop_ids=STOP)[:3] == reference[:3]


def test_swap_between_experts_equals_a_fresh_decoder(sharp_dirs, adapters):
    decoder = Decoder(load(sharp_dirs["llama"]))
    info = decoder.attach("lora", adapters[("llama", "lora")])
    assert info.kind == "lora" and info.merged_bytes == 0 and info.adapter_bytes > 0  # merged lazily
    decoder.attach("dora", adapters[("llama", "dora")])
    decoder.prepare("dora")
    assert decoder.memory_bytes("dora") > decoder.experts["dora"].nbytes
    one = (("dora", 1.0),)
    assert decoder.weights_for(one) is decoder.weights_for(one)  # a swap is a lookup once prepared
    for name in ["lora", "dora", "lora", "dora"]:
        got = decoder.run(PROMPTS, [((name, 1.0),)] * 4, max_new_tokens=8, stop_ids=STOP)
        fresh = Decoder(load(sharp_dirs["llama"]))
        fresh.attach(name, adapters[("llama", name)])
        assert got == fresh.run(PROMPTS, [((name, 1.0),)] * 4, max_new_tokens=8, stop_ids=STOP)
    decoder.detach("lora")
    with pytest.raises(UsageError, match="lora is not attached"):
        decoder.run(PROMPTS[:1], [(("lora", 1.0),)], max_new_tokens=2, stop_ids=STOP)


def test_adapter_for_another_base_is_refused_at_attach(sharp_dirs, tmp_path):
    from expertkit.models.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "narrow", "llama", hidden_size=32)
    adapter = make_adapter(other, tmp_path / "narrow-lora", "lora", seed=5)
    decoder = Decoder(load(sharp_dirs["llama"]))
    with pytest.raises(UsageError, match=r"expert wrong: layers\.0\..*has shape .* the base model needs"):
        decoder.attach("wrong", adapter)
    assert "wrong" not in decoder.experts


def test_stop_ids_on_token_and_processor(sharp_dirs):
    model = load(sharp_dirs["llama"])
    decoder = Decoder(model)
    free = decoder.run(PROMPTS, None, max_new_tokens=8, stop_ids=STOP)
    stopped = decoder.run(PROMPTS, None, max_new_tokens=8, stop_ids=[free[0][3]])
    assert stopped[0] == free[0][:free[0].index(free[0][3])]
    seen: list[tuple[int, int]] = []
    cut = decoder.run(PROMPTS, None, max_new_tokens=8, stop_ids=STOP,
                      on_token=lambda row, tok: seen.append((row, tok)) or not (row == 1 and len(seen) > 4))
    assert cut[0] == free[0] and len(cut[1]) < len(free[1]) and cut[1] == free[1][:len(cut[1])]
    widths: list[int] = []

    def only_seven(ids, scores):
        widths.append(ids.shape[1])
        scores[:, :] = float("-inf")
        scores[:, 7] = 0.0
        return scores

    assert decoder.run(PROMPTS, None, max_new_tokens=3, stop_ids=STOP, logits_processor=only_seven) == [[7, 7, 7]] * 4
    assert widths == [7, 8, 9]  # prompt (left padded to the longest) + generated, like HF


def test_sampling_is_seeded_and_top_p_narrows(sharp_dirs):
    decoder = Decoder(load(sharp_dirs["llama"]))
    kw = dict(max_new_tokens=8, stop_ids=STOP, temperature=1.5)
    first = decoder.run(PROMPTS, None, seed=3, **kw)
    assert decoder.run(PROMPTS, None, seed=3, **kw) == first
    assert decoder.run(PROMPTS, None, seed=4, **kw) != first
    greedy = decoder.run(PROMPTS, None, max_new_tokens=8, stop_ids=STOP)
    assert decoder.run(PROMPTS, None, seed=3, top_p=1e-6, **kw) == greedy


def test_prompt_longer_than_max_seq_len_is_refused(sharp_dirs):
    decoder = Decoder(load(sharp_dirs["llama"]), max_seq_len=16)
    with pytest.raises(UsageError, match="max_seq_len"):
        decoder.run([list(range(5, 15))], None, max_new_tokens=10, stop_ids=STOP)


def test_packed_batch_path_equals_the_plain_one(sharp_dirs, adapters):
    chains = [(("lora", 1.0),), (("dora", 1.0),), (), (("lora", 1.0),)]
    results = []
    for pack in (True, False):
        decoder = Decoder(load(sharp_dirs["qwen3"]), pack_batches=pack)
        decoder.attach("lora", adapters[("qwen3", "lora")])
        decoder.attach("dora", adapters[("qwen3", "dora")])
        results.append(decoder.run(PROMPTS, chains, max_new_tokens=8, stop_ids=STOP))
        results.append(decoder.run(PROMPTS, [chains[0]] * 4, max_new_tokens=8, stop_ids=STOP))
    assert results[:2] == results[2:]


def test_merged_weights_live_under_a_byte_budget(sharp_dirs, adapters):
    lora, dora = (("lora", 1.0),), (("dora", 1.0),)  # one row: the merged path (batches run packed)
    free = Decoder(load(sharp_dirs["llama"]))
    for kind in ("lora", "dora"):
        free.attach(kind, adapters[("llama", kind)])
    want = {c: free.run(PROMPTS[:1], [c], max_new_tokens=8, stop_ids=STOP) for c in (lora, dora)}
    one = max(free.merged.bytes_of(lora), free.merged.bytes_of(dora))
    assert len(free.merged) == 2 and one > 0
    tight = Decoder(load(sharp_dirs["llama"]), max_merged_bytes=one)  # room for one merged expert
    for kind in ("lora", "dora"):
        tight.attach(kind, adapters[("llama", kind)])
    for chain in (lora, dora, lora):
        assert tight.run(PROMPTS[:1], [chain], max_new_tokens=8, stop_ids=STOP) == want[chain]
        assert chain in tight.merged and len(tight.merged) == 1 and tight.merged.total() <= one  # the other was evicted
    tight.merged.set_budget(0)  # nothing fits: the chain decodes unmerged, same answers
    assert len(tight.merged) == 0 and tight.weights_for(lora) is None
    assert tight.run(PROMPTS[:1], [lora], max_new_tokens=8, stop_ids=STOP) == want[lora]
    assert tight.memory_bytes("lora") == tight.experts["lora"].nbytes
