"""The base model's weights in decode layout, and one forward pass over them (`runtime/decoder.py`).

`Stack` reads an HF Llama/Qwen3 causal LM once, every weight stored [in, out]: per layer, q/k/v
concatenated into one ``qkv`` weight and gate/up into one ``gate_up`` weight (one matmul each instead of three/two — on a CPU a
batch-1 decode step is ~150 matmuls plus their Python overhead). With ``share=True`` the HF
module's own parameters are then re-pointed at views of the fused tensors, so the weights are held
once and the HF model still runs (same values). Qwen3's q_norm/k_norm are applied per head; RoPE
comes from the model's own rotary module (so every rope_scaling type is the model's).

`forward` runs the layers over a static KV cache: ``cache[l]`` is layer l's (k, v), each [B, kv_heads, S, head_dim],
``start`` the first cache column written. Each linear takes a per-row `RowDelta` (or None):
    y = c ⊙ (W (a ⊙ x)) + (x A_row) B_row        (A_row [B, in, R], B_row [B, R, out])
which is how a batch serves a different expert (or composition) in every row (punica/S-LoRA's
gathered LoRA, as batched matmuls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from expertkit.errors import UsageError
from expertkit.runtime.hugepages import Arena

SUPPORTED = ("llama", "qwen3")


@dataclass
class Packed:
    """A weight pre-packed by oneDNN for batched rows (~2.5x faster than MKL's small-M GEMM at 4-8 rows)."""

    w: torch.Tensor


def pack(weight_t: torch.Tensor, rows: int) -> Packed | None:
    """oneDNN's packed layout of an [in, out] weight, or None where oneDNN isn't available."""
    try:
        return Packed(torch.ops.mkldnn._reorder_linear_weight(weight_t.t().contiguous(), rows))
    except (AttributeError, RuntimeError):
        return None


@dataclass
class RowDelta:
    At: torch.Tensor | None  # [B, in, R], or [in, R] shared by every row
    Bt: torch.Tensor | None  # [B, R, out], or [R, out]
    a: torch.Tensor | None  # [B|1, 1, in]
    c: torch.Tensor | None  # [B|1, 1, out]


class Stack:
    """Weights of an HF Llama/Qwen3 causal LM, fused per layer. ``layers[i]`` maps name -> tensor."""

    def __init__(self, model: Any, *, fuse: bool = True, share: bool = True, dtype: torch.dtype | None = None,
                 hugepages: bool = True) -> None:
        cfg = model.config
        if cfg.model_type not in SUPPORTED:
            raise UsageError(f"the fast decoder supports {', '.join(SUPPORTED)} models, not {cfg.model_type!r}")
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
            raise UsageError("the fast decoder does not support models with attention/mlp biases")
        if getattr(cfg, "use_sliding_window", False) and getattr(cfg, "sliding_window", None):
            raise UsageError("the fast decoder does not support sliding-window attention")
        inner = model.model
        share = share and (dtype is None or dtype == inner.embed_tokens.weight.dtype)  # another dtype: a copy
        self.model = model
        self.fuse = fuse
        self.hidden = cfg.hidden_size
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.n_layers = len(inner.layers)
        self.dtype = inner.embed_tokens.weight.dtype
        self.norm = inner.norm.weight.detach()
        # every matmul weight (and the output head) in one huge-page arena, already in the target dtype
        target = dtype or self.dtype
        arena = Arena(_matmul_bytes(model, target), enabled=hugepages)
        self.hugepages = arena.huge
        # [in, out] layout: `x @ W_T` runs ~1.7x faster than `F.linear(x, W)` for one decode row on a CPU
        # (measured with MKL, torch 2.13); the HF modules read transposed views of the same storage
        head = model.lm_head.weight.detach()
        self.lm_head = arena.take(head.shape[::-1], target).copy_(head.t())
        tied = model.lm_head.weight is inner.embed_tokens.weight
        if share:
            model.lm_head.weight.data = self.lm_head.t()
        self.embed = self.lm_head.t() if tied and share else inner.embed_tokens.weight.detach()
        self.rotary = inner.rotary_emb
        self.act = inner.layers[0].mlp.act_fn
        inter = inner.layers[0].mlp.gate_proj.weight.shape[0]
        q, kv = self.n_heads * self.head_dim, self.n_kv * self.head_dim
        self.splits = {"qkv": (q, kv, kv), "o": (self.hidden,), "gate_up": (inter, inter), "down": (self.hidden,)}
        self.inputs = {"qkv": self.hidden, "o": q, "gate_up": self.hidden, "down": inter}
        self.layers = [self._layer(layer, share, arena, target) for layer in inner.layers]
        self._packed: tuple[list[dict[str, Any]], Any] | None = None
        if dtype is not None and dtype != self.dtype:
            self._cast(dtype)

    def packed(self, rows: int) -> tuple[list[dict[str, Any]], Any] | None:
        """The base layers and output head packed for batches of ``rows`` (built once; None without oneDNN)."""
        if self._packed is None and self.fuse:
            head = pack(self.lm_head, rows)
            if head is not None:
                layers = [{k: (pack(v, rows) if k in ("qkv", "o", "gate_up", "down") else v) for k, v in layer.items()}
                          for layer in self.layers]
                self._packed = (layers, head)
        return self._packed

    def _cast(self, dtype: torch.dtype) -> None:
        def cast(t: Any) -> Any:
            if isinstance(t, list):
                return [cast(part) for part in t]
            return None if t is None else t.to(dtype).contiguous()

        self.lm_head = cast(self.lm_head)
        self.embed = cast(self.embed)
        self.norm = cast(self.norm)
        self.layers = [{k: cast(v) for k, v in layer.items()} for layer in self.layers]
        self.dtype = dtype

    def _layer(self, layer: Any, share: bool, arena: Arena, dtype: torch.dtype) -> dict[str, Any]:
        att, mlp = layer.self_attn, layer.mlp
        qkv_mods, gu_mods = [att.q_proj, att.k_proj, att.v_proj], [mlp.gate_proj, mlp.up_proj]
        out: dict[str, Any] = {"in_norm": layer.input_layernorm.weight.detach(),
                               "post_norm": layer.post_attention_layernorm.weight.detach(),
                               "q_norm": getattr(att, "q_norm", None), "k_norm": getattr(att, "k_norm", None)}
        for key in ("q_norm", "k_norm"):
            if out[key] is not None:
                out[key] = out[key].weight.detach()
        groups = (("qkv", qkv_mods), ("o", [att.o_proj]), ("gate_up", gu_mods), ("down", [mlp.down_proj]))
        for name, mods in groups:
            if self.fuse or len(mods) == 1:
                parts = torch.cat([m.weight.detach() for m in mods])
                fused = arena.take(parts.shape[::-1], dtype).copy_(parts.t())  # [in, out]
                if share:  # the HF modules read views of the fused tensor: the weights are held once
                    lo = 0
                    for m in mods:
                        n = m.weight.shape[0]
                        m.weight.data = fused[:, lo:lo + n].t()
                        lo += n
                out[name] = fused
            else:
                out[name] = [m.weight.detach().t().contiguous() for m in mods]
        return out

    # -- shapes, for adapters ------------------------------------------------------------
    def group_shape(self, group: str) -> tuple[int, int]:
        return sum(self.splits[group]), self.inputs[group]

    def part_offsets(self, group: str) -> list[int]:
        offsets = [0]
        for n in self.splits[group]:
            offsets.append(offsets[-1] + n)
        return offsets

    def part_shape(self, group: str, index: int) -> tuple[int, int]:
        return self.splits[group][index], self.inputs[group]

    def part_weight(self, layer: int, group: str, index: int) -> torch.Tensor:
        """Part ``index`` of a fused linear as an [out, in] view (PEFT's layout)."""
        w = self.layers[layer][group]
        if isinstance(w, list):
            return w[index].t()
        lo = self.part_offsets(group)
        return w[:, lo[index]:lo[index + 1]].t()

    def nbytes(self) -> int:
        """Bytes read per decoded token: every layer weight, the norms and the output head."""
        total = self.lm_head.numel() * self.lm_head.element_size() + self.norm.numel() * self.norm.element_size()
        for layer in self.layers:
            for t in layer.values():
                for part in t if isinstance(t, list) else [t] if t is not None else []:
                    total += part.numel() * part.element_size()
        return total


def _matmul_bytes(model: Any, dtype: torch.dtype) -> int:
    """Bytes of the output head and every layer's linear weights, in ``dtype``."""
    size = torch.empty((), dtype=dtype).element_size()
    mods = [m for layer in model.model.layers for m in (*layer.self_attn.children(), *layer.mlp.children())]
    weights = [m.weight for m in mods if isinstance(m, torch.nn.Linear)] + [model.lm_head.weight]
    return sum(w.numel() for w in weights) * size


def _linear(x: torch.Tensor, w: Any, d: RowDelta | None) -> Any:
    if isinstance(w, list):  # the unfused layout (measured against the fused one; no deltas)
        return [torch.matmul(x, part) for part in w]
    if d is None:
        return matmul(x, w)
    y = matmul(x if d.a is None else x * d.a, w)
    if d.c is not None:
        y = y * d.c
    if d.At is not None and d.At.dim() == 2:  # every row the same chain: one shared pair
        y = torch.addmm(y.reshape(-1, y.shape[-1]), x.reshape(-1, x.shape[-1]) @ d.At, d.Bt).view(y.shape)
    elif d.At is not None:  # one fused multiply-add for the low-rank term (the mixed batch's profile: bmm + add)
        y = torch.baddbmm(y, torch.bmm(x, d.At), d.Bt)
    return y


def _linear_add(h: torch.Tensor, x: torch.Tensor, w: Any, d: RowDelta | None) -> torch.Tensor:
    """``h + linear(x)``: the residual add fused into the matmul where the weight is plain (addmm) or packed."""
    if d is not None or isinstance(w, list):
        return h + _linear(x, w, d)
    if type(w) is Packed:
        return torch.ops.mkldnn._linear_pointwise.binary(x, h, w.w, None, "add")
    return torch.addmm(h.reshape(-1, h.shape[-1]), x.reshape(-1, x.shape[-1]), w).view(h.shape)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Attention of q [B, heads, T, hd] over the cache k/v [B, kv_heads, S, hd]. For one new token the query
    heads sharing a kv head are that head's queries (GQA without expanding the cache)."""
    B, nh, T, hd = q.shape
    nkv = k.shape[1]
    if nh == nkv:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if T == 1:
        out = F.scaled_dot_product_attention(q.reshape(B, nkv, nh // nkv, hd), k, v, attn_mask=mask)
        return out.view(B, nh, 1, hd)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


def matmul(x: torch.Tensor, w: Any) -> torch.Tensor:
    """``x @ w`` for a weight in decode layout ([in, out], or oneDNN-packed); public for the benchmarks."""
    if type(w) is Packed:
        return torch.ops.mkldnn._linear_pointwise(x, w.w, None, "none", [], "")
    return torch.matmul(x, w)


def _signed_sin(sin: torch.Tensor) -> torch.Tensor:
    """``sin`` with its first half negated, so RoPE's rotate_half is a plain roll (`_rotate`)."""
    half = sin.shape[-1] // 2
    return torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


def _rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """HF's ``x * cos + rotate_half(x) * sin`` bit for bit: rotate_half(x) * sin = roll(x) * signed_sin (a sign
    flip is exact), one roll instead of two slices, a neg and a cat per call."""
    return x * cos + x.roll(x.shape[-1] // 2, -1) * signed_sin


def forward(stack: Stack, h: torch.Tensor, positions: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]], start: int,
            mask: torch.Tensor | None, weights: list[dict[str, Any]], deltas: list[dict[str, RowDelta]] | None,
            last_only: bool = True, head: Any = None) -> torch.Tensor:
    """Logits [B, T|1, V] for embeddings ``h`` [B, T, hidden] at ``positions`` [B, T]; fills the cache."""
    B, T, _ = h.shape
    head = stack.lm_head if head is None else head
    cos, sin = stack.rotary(h, positions)
    cos, sin = cos.unsqueeze(1), _signed_sin(sin.unsqueeze(1))
    end = start + T
    nh, nkv, hd = stack.n_heads, stack.n_kv, stack.head_dim
    for i, L in enumerate(weights):
        ld = deltas[i] if deltas is not None else {}
        x = F.rms_norm(h, (stack.hidden,), L["in_norm"], stack.eps)
        qkv = _linear(x, L["qkv"], ld.get("qkv"))
        kc, vc = cache[i]
        if L["q_norm"] is None and not isinstance(qkv, list):  # q and k side by side: one rotation for both
            qk = _rotate(qkv[..., :(nh + nkv) * hd].view(B, T, nh + nkv, hd).transpose(1, 2), cos, sin)
            q, k = qk[:, :nh], qk[:, nh:]
            v = qkv[..., (nh + nkv) * hd:].view(B, T, nkv, hd)
        else:
            q, k, v = qkv if isinstance(qkv, list) else qkv.split(stack.splits["qkv"], dim=-1)
            q, k, v = q.view(B, T, nh, hd), k.view(B, T, nkv, hd), v.view(B, T, nkv, hd)
            if L["q_norm"] is not None:
                q = F.rms_norm(q, (hd,), L["q_norm"], stack.eps)
                k = F.rms_norm(k, (hd,), L["k_norm"], stack.eps)
            q, k = _rotate(q.transpose(1, 2), cos, sin), _rotate(k.transpose(1, 2), cos, sin)
        kc[:, :, start:end] = k
        vc[:, :, start:end] = v.transpose(1, 2)
        attn = _attend(q, kc[:, :, :end], vc[:, :, :end], mask)
        h = _linear_add(h, attn.transpose(1, 2).reshape(B, T, nh * hd), L["o"], ld.get("o"))
        x = F.rms_norm(h, (stack.hidden,), L["post_norm"], stack.eps)
        gu = _linear(x, L["gate_up"], ld.get("gate_up"))
        g, u = gu if isinstance(gu, list) else gu.chunk(2, dim=-1)
        h = _linear_add(h, stack.act(g) * u, L["down"], ld.get("down"))
    if last_only:
        h = h[:, -1:]
    return matmul(F.rms_norm(h, (stack.hidden,), stack.norm, stack.eps), head)
