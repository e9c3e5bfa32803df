"""speedups.py: one switch per training speedup, and a record of what a run applied."""

from __future__ import annotations

import json

import pytest

from expertkit.errors import UsageError
from expertkit.training.attention import PACKED_SDPA
from expertkit.training.speedups import ENV, SPEEDUPS, apply_speedups, disabled_speedups

from .test_packing import _trainer


def test_all_speedups_apply_on_cpu(tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    applied = _trainer(tiny_llama_dir, tmp_path).expert_speedups
    assert list(applied) == list(SPEEDUPS)
    assert applied["packed_attention"] is True and applied["head_loss"] is True
    assert applied["fast_dropout"] > 0 and applied["fused_lora"] > 0


def test_each_speedup_turns_off(tiny_llama_dir, tmp_path, monkeypatch):
    from peft.tuners.lora.layer import Linear

    from expertkit.training import answer_loss

    monkeypatch.setenv(ENV, "fused_lora, packed_attention,head_loss")
    trainer = _trainer(tiny_llama_dir, tmp_path)
    applied = trainer.expert_speedups
    assert applied["fused_lora"] == applied["packed_attention"] == applied["head_loss"] == "disabled"
    assert applied["fast_dropout"] > 0
    assert not any(m.lora_variant for m in trainer.model.modules() if type(m) is Linear)
    assert trainer.model.get_base_model().config._attn_implementation != PACKED_SDPA
    assert answer_loss.fused_head(trainer.model) is None
    monkeypatch.setenv(ENV, "all")
    assert set(apply_speedups(trainer).values()) == {"disabled"}


def test_unknown_speedup_name_is_an_error(monkeypatch):
    monkeypatch.setenv(ENV, "fused_lora,fsat_dropout")
    with pytest.raises(UsageError, match="fsat_dropout"):
        disabled_speedups()


def test_summary_records_the_speedups_and_threads_apply(cli, make_expert, tiny_llama_dir, monkeypatch):
    import torch

    monkeypatch.setenv(ENV, "fast_dropout")
    manifest = make_expert(tiny_llama_dir, config={"max_steps": 1, "dropout": 0.1})
    before = torch.get_num_threads()
    try:
        assert cli("train", "--manifest", manifest, "--threads", "1").exit_code == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    summary = json.loads(next(manifest.parent.glob("weights/*/training_summary.json")).read_text())
    assert summary["speedups"]["fast_dropout"] == "disabled" and summary["speedups"]["fused_lora"] > 0
