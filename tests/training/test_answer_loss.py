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


@pytest.mark.parametrize("head", ["fused", "logits"])
@pytest.mark.parametrize("packing", [True, False])
def test_answer_loss_matches_full_logits_loss_and_its_gradients(tiny_model_dir, tmp_path, packing, head, monkeypatch):
    from expertkit.training import answer_loss

    trainer = _trainer(tiny_model_dir, tmp_path, packing=packing)
    assert answer_loss.fused_head(trainer.model) is not None  # CPU, float32, plain head
    if head == "logits":
        monkeypatch.setattr(answer_loss, "fused_head", lambda model: None)
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


def test_head_loss_matches_the_textbook_loss_gradients_and_metrics():
    from expertkit.training.head_loss import head_loss

    torch.manual_seed(0)
    hidden = torch.randn(11, 8, requires_grad=True)
    weight = torch.randn(50, 8, requires_grad=True)  # a trainable head too (e.g. full fine-tuning)
    targets = torch.randint(0, 50, (11,))
    total, entropy, correct = head_loss(hidden, weight, targets, chunk=4)  # 3 blocks, the last one short
    (total * 0.5).backward()
    fused_grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad, weight.grad = None, None
    log_probs = torch.log_softmax(hidden @ weight.t(), dim=-1)
    expected = -log_probs.gather(1, targets[:, None]).sum()
    (expected * 0.5).backward()
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(fused_grads[0], hidden.grad)
    torch.testing.assert_close(fused_grads[1], weight.grad)
    torch.testing.assert_close(entropy, -(log_probs.exp() * log_probs).sum())
    assert correct == (log_probs.argmax(-1) == targets).sum()
    assert not entropy.requires_grad
    with torch.no_grad():  # evaluation: same figures, no gradient prepared
        eval_total, eval_entropy, eval_correct = head_loss(hidden, weight, targets, chunk=4)
    torch.testing.assert_close((eval_total, eval_entropy), (total.detach(), entropy))
    assert eval_correct == correct and not eval_total.requires_grad


def test_wrapped_or_unusual_heads_keep_the_models_own_head(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    from expertkit.training.answer_loss import fused_head

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
    assert fused_head(model) is not None
    assert fused_head(torch.nn.Sequential(model)) is None  # e.g. DDP: go through the wrapper's forward
    model.config.final_logit_softcapping = 30.0
    assert fused_head(model) is None
    model.config.final_logit_softcapping = None
    model.config.model_type = "some_new_architecture"  # not verified: its own head, whatever its config says
    assert fused_head(model) is None
    model.config.model_type = "llama"
    assert fused_head(model.to(torch.bfloat16)) is None
