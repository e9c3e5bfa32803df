"""Padding-free packing: several examples per row, and they don't attend to each other.

The batch comes from the real trainer's dataloader (TRL bfd packing + padding-free collator);
the packed forward must give the same logits as running each example on its own.
"""

from __future__ import annotations

import torch

from expertkit.manifest.model import TrainingConfig
from expertkit.training.adapters import AdapterContext, plan_adapter
from expertkit.training.attention import PACKED_SDPA
from expertkit.training.tokenization import load_split
from expertkit.training.trainer import build_args, build_trainer

from .conftest import FAST, example, write_jsonl


def _trainer(model_dir, tmp_path, packing=True):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    cfg = TrainingConfig(**{**FAST, "packing": packing})
    split = load_split(write_jsonl(tmp_path / "t.jsonl", [example(i, think=i % 2 == 0) for i in range(16)]), tok, cfg.max_seq_length)
    plan = plan_adapter(AdapterContext(cfg, model, str(model_dir)), "lora")
    args = build_args(cfg, run_dir=tmp_path / "run", device="cpu", packing=packing, has_eval=False, epochs=1, max_steps=2,
                      seed=0, warn=lambda m: None)
    return build_trainer(model=model, tokenizer=tok, peft_config=plan.peft_config, args=args, train_rows=split.rows,
                         eval_rows=None, callbacks=[], save_total_limit=None)


def test_packed_examples_do_not_attend_to_each_other(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    pos = batch["position_ids"][0]
    starts = (pos == 0).nonzero().flatten().tolist() + [pos.numel()]
    assert len(starts) - 1 >= 4, "several examples share the packed batch"
    assert trainer.model.get_base_model().config._attn_implementation == PACKED_SDPA
    model = trainer.model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        packed = model(**inputs, use_cache=False).logits[0]  # what training runs: per-example attention
        masked = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]  # block mask
        leaky = model(input_ids=batch["input_ids"], attention_mask=torch.ones_like(batch["input_ids"]), use_cache=False).logits[0]
        for a, b in zip(starts, starts[1:], strict=False):
            alone = model(input_ids=batch["input_ids"][:, a:b], use_cache=False).logits[0]
            torch.testing.assert_close(packed[a:b], alone, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(masked[a:b], alone, atol=1e-4, rtol=1e-4)
    # control: the same row with a plain causal mask lets later examples see earlier ones
    a, b = starts[1], starts[2]
    assert not torch.allclose(leaky[a:b], packed[a:b], atol=1e-4)
    # labels: the first token of every example is never a target (no cross-example prediction)
    assert all(batch["labels"][0, s].item() == -100 for s in starts[:-1])


def test_packing_off_gives_padded_rows_with_a_mask(tiny_llama_dir, tmp_path):
    batch = next(iter(_trainer(tiny_llama_dir, tmp_path, packing=False).get_train_dataloader()))
    assert batch["input_ids"].shape[0] == FAST["batch_size"] and "attention_mask" in batch


def test_training_steps_use_per_example_attention(tiny_llama_dir, tmp_path, monkeypatch):
    from expertkit.training import attention

    calls = []
    real = attention.packed_sdpa_forward

    def spy(module, query, *args, **kwargs):
        calls.append(kwargs.get("cu_seq_lens_q") is not None)
        return real(module, query, *args, **kwargs)

    from transformers import AttentionInterface

    trainer = _trainer(tiny_llama_dir, tmp_path)
    monkeypatch.setitem(AttentionInterface._global_mapping, PACKED_SDPA, spy)
    trainer.train()
    assert calls and all(calls)  # every attention call in training got the example boundaries
