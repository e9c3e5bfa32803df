"""The answer-only loss (LM head on labelled positions only) equals the usual full-logits loss."""

from __future__ import annotations

import pytest
import torch

from expertkit.training.answer_loss import answer_only_loss, supports_answer_loss

from .test_packing import _trainer


def _full_loss(model, batch):
    """The textbook loss: every position's logits, shifted labels, mean over labelled tokens."""
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits.float()
    shifted = batch["labels"][:, 1:]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=-100)


@pytest.mark.parametrize("packing", [True, False])
def test_answer_loss_matches_full_logits_loss_and_its_gradients(tiny_model_dir, tmp_path, packing):
    trainer = _trainer(tiny_model_dir, tmp_path, packing=packing)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.train()
    torch.manual_seed(0)
    for module in model.modules():  # dropout off so both passes see the same network
        if isinstance(getattr(module, "p", None), float):  # nn.Dropout and our FastDropout
            module.p = 0.0
    expected = _full_loss(model, batch)
    expected.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    result = answer_only_loss(model, batch)
    result.loss.backward()
    torch.testing.assert_close(result.loss, expected, atol=1e-5, rtol=1e-5)
    for name, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.grad, grads[name], atol=1e-6, rtol=1e-4, msg=name)
    assert result.num_valid == (batch["labels"][:, 1:] != -100).sum()
    assert 0 <= result.num_correct <= result.num_valid and result.entropy_sum > 0


def test_the_trainer_uses_it_and_logs_trl_metrics(tiny_llama_dir, tmp_path):
    trainer = _trainer(tiny_llama_dir, tmp_path)
    assert supports_answer_loss(trainer.model)
    batch = next(iter(trainer.get_train_dataloader()))
    loss = trainer.compute_loss(trainer.model.train(), batch)
    assert loss.requires_grad and torch.isfinite(loss)
    metrics = trainer._metrics["train"]
    assert metrics["mean_token_accuracy"] and metrics["entropy"] and metrics["num_tokens"] == [batch["input_ids"].numel()]
