"""Loss computed only where it counts: the LM head runs on the positions whose next token is a label.

Assistant-only labels leave most positions of a row at -100 (system prompt, question, template
tokens). TRL's fused LM head scores just the labelled positions on Triton devices, but on CPU it
scores every position, in chunks, and recomputes the chunks again in backward. With a 49k vocab
that made the head ~35% of a SmolLM2 training step on 2 CPU threads (profiled: 19 s of 56 s for a
4k-token packed row). Here the head gets a boolean ``logits_to_keep`` mask, which transformers
applies before the projection, so the logits are ``(labelled positions, vocab)`` and the loss is a
plain cross-entropy over them: exact same loss, fewer FLOPs, no recompute. On CPU in float32,
with a plain linear head, the head and the loss go one step further (``head_loss.py``): the
decoder's hidden states at those positions, then logits, loss and gradient a block at a time.

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
    """False for prompt-learning PEFT models (virtual tokens shift every position), wrapped in DDP or not."""
    config = getattr(unwrap_ddp(model), "active_peft_config", None)
    return not getattr(config, "is_prompt_learning", False)


def answer_only_loss(model: Any, inputs: dict, num_items_in_batch: Any = None) -> AnswerLoss:
    """Causal-LM loss over positions whose shifted label is not -100, like ``labels=`` but cheaper."""
    import torch

    labels = inputs["labels"]
    shifted = torch.full_like(labels, -100)
    shifted[:, :-1] = labels[:, 1:]  # position t predicts token t+1
    keep = shifted != -100
    targets = shifted[keep]
    model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    fused = fused_head(model)
    if fused is not None:  # CPU float32 with a plain head: loss and gradient block by block (head_loss.py)
        from expertkit.training.head_loss import head_loss

        decoder, weight = fused

        def decoder_and_head() -> Any:
            hidden = decoder(**model_inputs, use_cache=False).last_hidden_state[keep]
            return head_loss(hidden, weight, targets)

        total, entropy, correct = as_forward(model, decoder_and_head)
    else:
        total, entropy, correct = _logits_loss(model, model_inputs, keep, targets)
    denominator = keep.sum() if num_items_in_batch is None else num_items_in_batch
    loss = total / torch.as_tensor(denominator, device=total.device).clamp(min=1)
    return AnswerLoss(loss=loss, num_valid=keep.sum(), num_correct=correct, entropy_sum=entropy)


def unwrap_ddp(model: Any) -> Any:
    """The module inside a DistributedDataParallel wrapper (what ``accelerate``/``torchrun`` training gets), else ``model``."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def as_forward(model: Any, compute: Any) -> Any:
    """``compute()``, run as the forward of ``model``'s DDP wrapper when there is one.

    DDP reduces gradients only after a call through its own forward (``_pre_forward`` readies the
    reducer, ``_post_forward`` arms it for backward); a decoder call that bypasses it trains each
    rank on its own gradients. So, for this one call, the wrapped module's forward is ``compute``
    (an instance attribute shadows the class's method; any instance forward, e.g. accelerate's
    autocast wrapper, is put back after).
    """
    inner = unwrap_ddp(model)
    if inner is model:
        return compute()
    own = inner.__dict__.get("forward")
    inner.forward = compute
    try:
        return model()
    finally:
        if own is None:
            del inner.forward
        else:
            inner.forward = own


def _logits_loss(model: Any, model_inputs: dict, keep: Any, targets: Any) -> tuple[Any, Any, Any]:
    """The model's own head on the kept positions, then log_softmax: any model, device and dtype."""
    import torch
    import torch.nn.functional as F

    outputs = model(**model_inputs, use_cache=False, logits_to_keep=keep)
    logits = outputs.logits.reshape(-1, outputs.logits.shape[-1]).float()  # (labelled positions, vocab)
    log_probs = F.log_softmax(logits, dim=-1)
    total = -log_probs.gather(-1, targets[:, None]).sum()
    with torch.no_grad():
        correct = (log_probs.argmax(-1) == targets).sum()
        entropy = -(log_probs.exp() * log_probs).sum()
    return total, entropy, correct


# Architectures whose logits we verified are exactly ``decoder(...).last_hidden_state @ W.T`` (their
# forward applies nothing after the head; tests compare with the textbook loss on tiny models of
# each). A new architecture keeps its own head until it is checked and added here.
VERIFIED_HEAD_ARCHITECTURES = frozenset({"llama", "qwen3"})
# Head configurations that change the logits even where the forward reads them (Gemma 2/3,
# Cohere, Granite): set on a verified architecture they still mean the model's own head.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def fused_head(model: Any) -> tuple[Any, Any] | None:
    """``(decoder, head weight)`` when the logits are exactly ``hidden @ W.T`` on CPU in float32, else None.

    Only for a verified architecture with a plain linear head (see VERIFIED_HEAD_ARCHITECTURES),
    only for a PEFT or transformers model, bare or in DDP (``as_forward`` then runs it through the
    wrapper's forward, so gradients are still reduced across ranks). FSDP and DeepSpeed shard or
    gather the weights in their own forward, so those runs keep the model's own head.
    EXPERT_DISABLE_SPEEDUPS=head_loss turns it off.
    """
    import torch
    from transformers import PreTrainedModel

    from expertkit.training.speedups import speedup_enabled

    if not speedup_enabled("head_loss"):
        return None

    model = unwrap_ddp(model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(base, PreTrainedModel):
        return None
    head = base.get_output_embeddings()
    if type(head) is not torch.nn.Linear or head.bias is not None:  # a LoRA-wrapped or biased head has more to it
        return None
    if head.weight.dtype != torch.float32 or head.weight.device.type != "cpu":
        return None
    config = base.config.get_text_config() if hasattr(base.config, "get_text_config") else base.config
    if config.model_type not in VERIFIED_HEAD_ARCHITECTURES:
        return None
    if any(getattr(config, name, None) is not None for name in _LOGIT_TRANSFORMS):
        return None
    return base.get_decoder(), head.weight
