"""Loss computed only where it counts: the LM head runs on the positions whose next token is a label.

Assistant-only labels leave most positions of a row at -100 (system prompt, question, template
tokens). TRL's fused LM head scores just the labelled positions on Triton devices, but on CPU it
scores every position, in chunks, and recomputes the chunks again in backward. With a 49k vocab
that made the head ~35% of a SmolLM2 training step on 2 CPU threads (profiled: 19 s of 56 s for a
4k-token packed row). Here the head gets a boolean ``logits_to_keep`` mask, which transformers
applies before the projection, so the logits are ``(labelled positions, vocab)`` and the loss is a
plain cross-entropy over them: exact same loss, fewer FLOPs, no recompute.

Not used for prompt-learning adapters: they prepend virtual tokens inside PEFT's forward, so the
positions the mask names would be off by the prompt length (those runs keep TRL's own loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AnswerLoss:
    """The loss plus what TRL's metrics need (all counts are over labelled positions)."""

    loss: Any
    num_valid: Any
    num_correct: Any
    entropy_sum: Any


def supports_answer_loss(model: Any) -> bool:
    """False for prompt-learning PEFT models (virtual tokens shift every position)."""
    config = getattr(model, "active_peft_config", None)
    return not getattr(config, "is_prompt_learning", False)


def answer_only_loss(model: Any, inputs: dict, num_items_in_batch: Any = None) -> AnswerLoss:
    """Causal-LM loss over positions whose shifted label is not -100, like ``labels=`` but cheaper."""
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    shifted = torch.full_like(labels, -100)
    shifted[:, :-1] = labels[:, 1:]  # position t predicts token t+1
    keep = shifted != -100
    model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    outputs = model(**model_inputs, use_cache=False, logits_to_keep=keep)
    logits = outputs.logits.reshape(-1, outputs.logits.shape[-1]).float()  # (labelled positions, vocab)
    targets = shifted[keep]
    log_probs = F.log_softmax(logits, dim=-1)
    total = -log_probs.gather(-1, targets[:, None]).sum()
    denominator = keep.sum() if num_items_in_batch is None else num_items_in_batch
    loss = total / torch.as_tensor(denominator, device=total.device).clamp(min=1)
    with torch.no_grad():
        correct = (log_probs.argmax(-1) == targets).sum()
        entropy = -(log_probs.exp() * log_probs).sum()
    return AnswerLoss(loss=loss, num_valid=keep.sum(), num_correct=correct, entropy_sum=entropy)
