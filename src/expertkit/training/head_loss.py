"""LM head + cross-entropy + its gradient, a block of rows at a time, in the forward pass.

The textbook loss makes a ``(positions, vocab)`` logits tensor (400 MB for 2k labelled tokens and
SmolLM2's 49k vocab), then log_softmax, then in backward a zero-filled tensor of the same size
for ``gather``'s gradient and log_softmax's backward: each a pass over memory, ~2 s of a 28 s
CPU LoRA step, plus ~1 s for the entropy metric's ``exp`` and product. The gradient of the mean
cross-entropy with respect to the logits is known in closed form, ``softmax(z) - onehot(target)``,
so this computes, for ``chunk`` rows at a time while they are still in cache: the logits, their
max and softmax, the loss, the entropy and argmax for TRL's metrics, and the gradient with respect
to the hidden states (``(softmax - onehot) @ W``). Backward only scales what forward stored.
Liger-Kernel's fused linear cross-entropy does the same on GPUs; this is the CPU counterpart, in
plain torch ops. Exact: same loss, gradients and metrics as the textbook version (tested).
This module imports torch: answer_loss.py imports it only when the fused head applies.
"""

from __future__ import annotations

from typing import Any

import torch

CHUNK_ROWS = 512  # 512 x 49k floats = 100 MB per buffer; smaller blocks re-read the 113 MB head too often


class ChunkedHeadLoss(torch.autograd.Function):
    """``(hidden, weight, targets) -> (summed loss, summed entropy, correct count)``; only the loss has a gradient."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int,
                grads: bool) -> Any:
        rows = hidden.shape[0]
        grad_hidden = torch.empty_like(hidden) if grads and ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight) if grads and ctx.needs_input_grad[1] else None
        losses, entropies = hidden.new_empty(rows), hidden.new_empty(rows)
        correct = torch.zeros((), dtype=torch.long, device=hidden.device)
        logits_buf = hidden.new_empty(min(chunk, rows), weight.shape[0])
        probs_buf = torch.empty_like(logits_buf)
        for start in range(0, rows, chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            n = h.shape[0]
            z = torch.mm(h, weight.t(), out=logits_buf[:n])
            target_logit = z.gather(1, t[:, None]).squeeze(1)
            top, argmax = z.max(dim=1)
            z.sub_(top[:, None])  # z - max: exp can't overflow
            e = torch.exp(z, out=probs_buf[:n])
            total = e.sum(dim=1)
            log_total = total.log()
            losses[start:start + n] = top + log_total - target_logit  # logsumexp - z[target]
            # entropy = logsumexp - sum(p * z) = log(total) - sum(e * (z - max)) / total
            # (einsum is a batched BLAS dot; linalg.vecdot materialises e * z first, 5x slower)
            entropies[start:start + n] = log_total - torch.einsum("ij,ij->i", e, z) / total
            correct += (argmax == t).sum()
            if grad_hidden is None and grad_weight is None:
                continue  # evaluation: no gradient to prepare
            e.div_(total[:, None])  # softmax
            e[torch.arange(n, device=e.device), t] -= 1  # d(loss_i)/d(z_i) = softmax - onehot
            if grad_hidden is not None:
                torch.mm(e, weight, out=grad_hidden[start:start + n])
            if grad_weight is not None:
                grad_weight.addmm_(e.t(), h)
        ctx.save_for_backward(grad_hidden, grad_weight)
        entropy = entropies.sum()
        ctx.mark_non_differentiable(entropy, correct)
        return losses.sum(), entropy, correct

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, *unused: Any) -> Any:
        grad_hidden, grad_weight = ctx.saved_tensors
        scaled = [None if g is None else g * grad_loss for g in (grad_hidden, grad_weight)]
        return scaled[0], scaled[1], None, None, None


def head_loss(hidden: Any, weight: Any, targets: Any, chunk: int = CHUNK_ROWS) -> tuple[Any, Any, Any]:
    """Summed cross-entropy of ``hidden @ weight.T`` against ``targets``, summed entropy, correct argmaxes."""
    # forward always runs without grad mode, so whether a gradient is wanted is decided out here
    return ChunkedHeadLoss.apply(hidden, weight, targets, chunk, torch.is_grad_enabled())
