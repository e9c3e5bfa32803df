"""A lean decoder for HF Llama/Qwen3 causal LMs with many experts on one base (the engine's fast backend).

    decoder = Decoder(base.model, max_batch=8, max_seq_len=2048)
    decoder.attach("expert-sql", adapter_dir)            # LoRA / DoRA / IA3 / prompt tuning (PEFT dirs)
    out = decoder.run([ids_a, ids_b], [(("expert-sql", 1.0),), ()], max_new_tokens=64, stop_ids=[2])

`run(prompts, chains, *, max_new_tokens, stop_ids, temperature=0.0, top_p=1.0, seed=None,
logits_processor=None, on_token=None, min_new_tokens=0, top_k=0, min_p=0.0) -> list[list[int]]`
(sampling and min_new_tokens as transformers' generate) returns each row's generated ids, the stop
token excluded. ``chains[i]`` is row i's expert chain: ``()`` for the base model,
``(("expert-sql", 1.0),)`` for one expert, several for a composition (rules in
`decoder_adapters`). ``logits_processor(input_ids [B, T], scores [B, V]) -> scores`` sees the
(left-padded) prompt plus the generated ids, like a transformers LogitsProcessor (our
GrammarAfterThink is one); finished rows keep receiving ``pad_id`` there, as in HF generate.
``on_token(row, token_id) -> bool`` is called for every generated non-stop token; False stops that
row (cancellation, stop sequences).

Constructor options: ``max_batch`` (rows the KV cache is first sized for, and the packing hint),
``max_seq_len`` (prompt + new tokens; longer is refused), ``pad_id`` (what finished rows feed the
processor), ``share`` (re-point the HF model's parameters at the decoder's fused [in, out] tensors,
so the weights are held once), ``dtype`` (e.g. torch.bfloat16: a cast copy), ``merge_at_attach``,
``pack_batches`` (below), ``fuse`` (False: the unfused layout, for measurement; no experts), ``hugepages``
(False: the weights in ordinary pages, for measurement; `runtime/hugepages`), ``drop_finished``
(False: finished rows stay in the forward pass to the end, for measurement).

How a batch runs (prefill of the left-padded prompts, then one token per step over a static
KV cache allocated once and reused while it is big enough):
- one row: the chain's merged weights (W' = c⊙W⊙a + B·A, built once per
  expert by `prepare` — at attach with ``merge_at_attach``, else on first use — and once per
  composition on first use) replace the base weights: a swap between cached chains is a pointer
  swap, and decoding costs what the base costs. The cache (`decoder_merged.MergedCache`) is an LRU
  under ``merged_cache`` entries and ``max_merged_bytes`` (the pool's budget sets it); a chain
  that can't fit decodes unmerged on the per-row path below;
- rows use different chains: the base weights plus per-row low-rank deltas as batched matmuls
  (one A/B stack per linear, padded to the largest rank), so 4 experts cost about one batch;
- a batch of 2+ rows always takes that path on oneDNN-packed base weights (``pack_batches``): one
  more copy of the base weights, but the packed small-M GEMM beats MKL's by ~2.5x at 4-8 rows;
- a row that finishes leaves the forward pass (its cache row, deltas, pad and mask are dropped; the
  processor and ``on_token`` still see batch row numbers): a test suite's batch, where one rambling
  row runs to max_new_tokens, then costs what its remaining rows cost, not a full batch per step.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from expertkit.errors import UsageError
from expertkit.runtime.decoder_adapters import GROUPS, Delta, Expert, combine, merge, out_scale, read_expert
from expertkit.runtime.decoder_layers import RowDelta, Stack, forward
from expertkit.runtime.decoder_merged import MergedCache
from expertkit.runtime.hugepages import Arena

Chain = tuple[tuple[str, float], ...]


@dataclass
class AttachInfo:
    name: str
    kind: str
    attach_ms: float  # read + checks (+ merged weights with merge_at_attach)
    adapter_bytes: int  # the adapter's own tensors
    merged_bytes: int  # the cached merged weights (0 until prepared; always 0 for prompt tuning)


class Decoder:
    """Base model + attached experts; `run` decodes a batch whose rows may each use another chain."""

    def __init__(self, model: Any, *, max_batch: int = 8, max_seq_len: int = 2048, fuse: bool = True,
                 merge_at_attach: bool = False, merged_cache: int = 8, max_merged_bytes: int | None = None,
                 pad_id: int = 0, share: bool = True, dtype: torch.dtype | None = None, pack_batches: bool = True,
                 hugepages: bool = True, drop_finished: bool = True) -> None:
        self.stack = Stack(model, fuse=fuse, share=share, dtype=dtype, hugepages=hugepages)
        self.max_batch, self.max_seq_len = max_batch, max_seq_len
        self.merge_at_attach = merge_at_attach
        self.pack_batches = pack_batches  # batches of 2+ rows: oneDNN-packed base weights (+ one more copy of them)
        self.pad_id = pad_id
        self.drop_finished = drop_finished  # finished rows leave the forward pass (False: they run to the end)
        self.experts: dict[str, Expert] = {}
        self.merged = MergedCache(self.stack, max_entries=merged_cache, max_bytes=max_merged_bytes)
        self._combos: OrderedDict[Chain, dict[tuple[int, str], Delta]] = OrderedDict()  # chain -> combined deltas
        self._cache: torch.Tensor | None = None
        self.step_hooks: list[Callable[[], None]] = []  # called before every forward pass (timing, like HF's pre-hooks)

    # -- experts ---------------------------------------------------------------------------
    def attach(self, name: str, adapter_dir: str | Path) -> AttachInfo:
        """Read a PEFT adapter (refused with a clear error if it doesn't fit); usable at once by the per-row
        path. Its merged weights are built by `prepare` (at attach with ``merge_at_attach``) or on first use."""
        started = time.perf_counter()
        with torch.inference_mode():
            expert = read_expert(name, adapter_dir, self.stack)
            self.detach(name)
            self.experts[name] = expert
        if self.merge_at_attach:
            self.prepare(name)
        return AttachInfo(name, expert.kind, (time.perf_counter() - started) * 1000, expert.nbytes,
                          self.merged.bytes_of(((name, 1.0),)))

    def prepare(self, name: str) -> float:
        """Build and cache ``name``'s merged weights now (off the request path) if the cache's budget
        allows; returns the ms it took."""
        started = time.perf_counter()
        self.weights_for(((name, 1.0),))
        return (time.perf_counter() - started) * 1000

    def detach(self, name: str) -> None:
        self.experts.pop(name, None)
        self.merged.drop(name)
        for chain in [c for c in self._combos if any(n == name for n, _ in c)]:
            del self._combos[chain]

    def memory_bytes(self, name: str) -> int:
        """RAM this expert holds: its tensors plus its merged weights (when cached)."""
        return self.experts[name].nbytes + self.merged.bytes_of(((name, 1.0),))

    def held_bytes(self) -> int:
        """RAM the decoder holds for experts: their tensors and every cached merged entry."""
        return sum(e.nbytes for e in self.experts.values()) + self.merged.total()

    def _experts(self, chain: Chain) -> list[tuple[Expert, float]]:
        missing = [n for n, _ in chain if n not in self.experts]
        if missing:
            raise UsageError(f"expert {missing[0]} is not attached to the decoder")
        return [(self.experts[n], float(w)) for n, w in chain]

    def _merge(self, experts: list[tuple[Expert, float]]) -> list[dict[str, Any]]:
        if not self.stack.fuse:
            raise UsageError("merged expert weights need the fused layout (Decoder(fuse=True))")
        combined = combine(experts, self.stack)
        arena = Arena(self.merged.cost(set(combined)), enabled=self.stack.hugepages)  # as fast to read as the base
        layers = []
        for i, base in enumerate(self.stack.layers):
            layer = dict(base)
            for group in GROUPS:
                d = combined.get((i, group))
                if d is not None:
                    layer[group] = merge(base[group], d, arena.take(base[group].shape, base[group].dtype))
            layers.append(layer)
        return layers

    def weights_for(self, chain: Chain) -> list[dict[str, Any]] | None:
        """The layer weights a batch whose every row uses ``chain`` decodes with: merged and cached (a swap
        between cached chains is a lookup); None when its merged weights don't fit the cache's budget."""
        experts = self._experts(chain)
        if not any(e.deltas for e, _ in experts):
            return self.stack.layers
        hit = self.merged.get(chain)
        if hit is not None:
            return hit
        cost = self.merged.cost({k for e, _ in experts for k in e.deltas})
        if not self.merged.fits(cost):
            return None
        with torch.inference_mode():
            layers = self._merge(experts)
        self.merged.put(chain, layers, cost)
        return layers

    def row_deltas(self, chains: Sequence[Chain]) -> list[dict[str, RowDelta]]:
        """Per layer, per fused linear: the rows' deltas stacked for batched matmuls (the mixed path);
        when every row uses one chain, its delta once (rows share A and B: read once per step, not per row)."""
        shared = len(set(chains)) == 1
        per_row = [self._combined(c) for c in (chains[:1] if shared else chains)]
        out: list[dict[str, RowDelta]] = []
        for i in range(self.stack.n_layers):
            layer: dict[str, RowDelta] = {}
            for group in GROUPS:
                ds = [row.get((i, group)) for row in per_row]
                if any(d is not None for d in ds):
                    layer[group] = self._stack_rows(group, [d or Delta() for d in ds], shared)
            out.append(layer)
        return out

    def _combined(self, chain: Chain) -> dict[tuple[int, str], Delta]:
        """A chain's combined deltas, cached (LRU) so a repeated mixed batch doesn't rebuild them."""
        if chain not in self._combos:
            self._combos[chain] = combine(self._experts(chain), self.stack)
            while len(self._combos) > 32:
                self._combos.popitem(last=False)
        self._combos.move_to_end(chain)
        return self._combos[chain]

    def _stack_rows(self, group: str, ds: list[Delta], shared: bool = False) -> RowDelta:
        n_out, n_in = self.stack.group_shape(group)
        dtype = self.stack.dtype
        rank = max((d.A.shape[0] for d in ds if d.A is not None), default=0)
        At = Bt = a = c = None
        if rank and shared:  # 2-D: one [in, R] @ [R, out] pair for every row
            At, Bt = ds[0].A.t().contiguous(), ds[0].B.t().contiguous()
        elif rank:
            At = torch.zeros(len(ds), n_in, rank, dtype=dtype)
            Bt = torch.zeros(len(ds), rank, n_out, dtype=dtype)
            for r, d in enumerate(ds):
                if d.A is not None:
                    At[r, :, :d.A.shape[0]] = d.A.T
                    Bt[r, :d.A.shape[0]] = d.B.T
        if any(d.a is not None for d in ds):
            a = torch.stack([d.a if d.a is not None else torch.ones(n_in, dtype=dtype) for d in ds])[:, None]
        scales = [out_scale(d) for d in ds]
        if any(s is not None for s in scales):
            c = torch.stack([s if s is not None else torch.ones(n_out, dtype=dtype) for s in scales])[:, None]
        return RowDelta(At, Bt, a, c)

    # -- decoding --------------------------------------------------------------------------
    def run(self, prompts: list[list[int]], chains: Sequence[Chain] | None = None, *, max_new_tokens: int,
            stop_ids: Sequence[int], temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
            logits_processor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
            on_token: Callable[[int, int], bool] | None = None, min_new_tokens: int = 0, top_k: int = 0,
            min_p: float = 0.0) -> list[list[int]]:
        """Generate for each prompt (token ids) with its chain; see the module docstring."""
        chains = [tuple(c) for c in (chains if chains is not None else [()] * len(prompts))]
        if len(chains) != len(prompts):
            raise UsageError(f"run: {len(prompts)} prompts but {len(chains)} chains")
        if not prompts or any(not p for p in prompts):
            raise UsageError("run: every prompt needs at least one token")
        with torch.inference_mode():
            sampler = _Sampler(temperature, top_p, seed, top_k, min_p, sorted(set(stop_ids)), min_new_tokens)
            return self._run(prompts, chains, max_new_tokens, set(stop_ids), sampler, logits_processor, on_token)

    def _run(self, prompts: list[list[int]], chains: list[Chain], max_new: int, stops: set[int], sampler: _Sampler,
             processor: Any, on_token: Any) -> list[list[int]]:
        B = len(prompts)
        soft = [self._soft_prompt(c) for c in chains]
        lengths = [len(p) + (0 if s is None else s.shape[0]) for p, s in zip(prompts, soft, strict=True)]
        total = max(lengths)
        if total + max_new > self.max_seq_len:
            raise UsageError(f"run: prompt ({total} tokens) + max_new_tokens ({max_new}) exceed max_seq_len {self.max_seq_len}")
        weights, deltas, head = self._plan(chains)
        cache = self._kv(B, total + max_new)
        pads = torch.tensor([total - n for n in lengths])
        h = self._prefill_embeddings(prompts, soft, total)
        cols = torch.arange(total + max_new)
        valid = cols[None, :] >= pads[:, None]  # [B, S]: the cache columns each row may attend to
        padded = bool(pads.any())
        causal = torch.ones(total, total, dtype=torch.bool).tril()
        mask = (causal[None] & valid[:, None, :total]) | torch.eye(total, dtype=torch.bool)[None]  # pads see themselves
        positions = (cols[None, :total] - pads[:, None]).clamp(min=0)
        self._stepped()
        logits = forward(self.stack, h, positions, cache, 0, mask[:, None], weights, deltas, head=head)
        step_mask = valid[:, None, None] if padded else None  # no padding: attend to every written column
        width = max(len(p) for p in prompts)
        ids = torch.full((B, width + max_new), self.pad_id, dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, width - len(p):width] = torch.tensor(p)
        out: list[list[int]] = [[] for _ in range(B)]
        done = [False] * B
        live = list(range(B))  # the rows still decoding, in the order the forward pass holds them
        for step in range(max_new):
            scores = sampler.hold_stops(_all_rows(logits[:, -1].float(), live, B), step)
            if processor is not None:
                scores = processor(ids[:, :width + step], scores)
            tokens = sampler(scores).tolist()
            for r, t in enumerate(tokens):
                if done[r]:
                    tokens[r] = self.pad_id
                elif t in stops:
                    done[r] = True
                else:
                    out[r].append(t)
                    if on_token is not None and on_token(r, t) is False:
                        done[r] = True
            ids[:, width + step] = torch.tensor(tokens)
            if all(done) or step == max_new - 1:
                break
            pos = total + step
            if self.drop_finished and any(done[r] for r in live):  # finished rows leave the forward pass (a step costs ~rows)
                keep = [i for i, r in enumerate(live) if not done[r]]
                live = [live[i] for i in keep]
                cache, deltas = self._keep_rows(keep, pos), _keep_deltas(deltas, keep)
                pads = pads[keep]
                step_mask = None if step_mask is None else step_mask[keep]
            h = self.stack.embed[ids[live, width + step]][:, None]
            mask = None if step_mask is None else step_mask[..., :pos + 1]
            self._stepped()
            logits = forward(self.stack, h, (pos - pads)[:, None], cache, pos, mask, weights, deltas, head=head)
        return out

    def _keep_rows(self, keep: list[int], end: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Move the cache rows ``keep`` (columns before ``end``, the ones written) to the front, in one copy
        for every layer; returns the per-layer views of those rows."""
        c = self._cache
        c[:, :, :len(keep), :, :end] = c[:, :, keep, :, :end]
        return [(c[i, 0, :len(keep)], c[i, 1, :len(keep)]) for i in range(self.stack.n_layers)]

    def _stepped(self) -> None:
        for hook in self.step_hooks:
            hook()

    def _plan(self, chains: list[Chain]) -> tuple[list[dict[str, Any]], list[dict[str, RowDelta]] | None, Any]:
        """Which weights a batch decodes with: one row -> the chain's merged weights (MKL's GEMV on [in, out]
        is the fastest single-row path); several rows -> the oneDNN-packed base weights plus per-row deltas
        (packed small-M GEMM is ~2.5x faster than MKL's, which outweighs the low-rank terms)."""
        packed = self.packed_for(len(chains))
        merged = self.weights_for(chains[0]) if packed is None and len(set(chains)) == 1 else None
        if merged is not None:
            return merged, None, None
        layers, head = packed if packed is not None else (self.stack.layers, None)
        has_deltas = any(e.deltas for c in set(chains) for e, _ in self._experts(c))
        return layers, self.row_deltas(chains) if has_deltas else None, head

    def packed_for(self, rows: int) -> tuple[list[dict[str, Any]], Any] | None:
        """The oneDNN-packed base layers and head a batch of ``rows`` decodes on, or None (one row, or
        packing off or unavailable: the [in, out] weights)."""
        return self.stack.packed(self.max_batch) if rows > 1 and self.pack_batches else None

    def _soft_prompt(self, chain: Chain) -> torch.Tensor | None:
        parts = [e.prompt for e, _ in self._experts(chain) if e.prompt is not None]
        return torch.cat(parts) if parts else None

    def _prefill_embeddings(self, prompts: list[list[int]], soft: list[torch.Tensor | None], total: int) -> torch.Tensor:
        h = torch.zeros(len(prompts), total, self.stack.hidden, dtype=self.stack.dtype)
        for r, (p, s) in enumerate(zip(prompts, soft, strict=True)):
            row = self.stack.embed[torch.tensor(p)]
            if s is not None:
                row = torch.cat([s, row])
            h[r, total - row.shape[0]:] = row
        return h

    def _kv(self, batch: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer (k, v) views [B, kv_heads, S, head_dim] of one static cache, grown only when too small
        (split once per run, not indexed out of the cache per layer and step)."""
        st = self.stack
        need = (batch, length)
        have = None if self._cache is None else (self._cache.shape[2], self._cache.shape[4])
        if have is None or have[0] < need[0] or have[1] < need[1]:
            rows = max(batch, min(self.max_batch, 8) if have is None else have[0])
            cols = min(self.max_seq_len, max(length, 256 if have is None else have[1]))
            cols = max(cols, length)
            self._cache = torch.zeros(st.n_layers, 2, rows, st.n_kv, cols, st.head_dim, dtype=st.dtype)
        return [(self._cache[i, 0, :batch], self._cache[i, 1, :batch]) for i in range(st.n_layers)]


def _all_rows(logits: torch.Tensor, live: list[int], rows: int) -> torch.Tensor:
    """Logits of the live rows placed at their rows of the whole batch (finished rows: zeros), so the
    processor and the sampler always see every row, as in HF generate."""
    if len(live) == rows:
        return logits
    full = logits.new_zeros(rows, logits.shape[-1])
    full[live] = logits
    return full


def _keep_deltas(deltas: list[dict[str, RowDelta]] | None, keep: list[int]) -> list[dict[str, RowDelta]] | None:
    """The per-row low-rank terms of the rows ``keep`` (terms shared by every row stay as they are)."""
    if deltas is None:
        return None

    def rows(t: torch.Tensor | None) -> torch.Tensor | None:  # per row: [B, ...] with B > 1 (shared: [in, R] or [1, 1, n])
        return t[keep] if t is not None and t.dim() == 3 and t.shape[0] > 1 else t

    return [{g: RowDelta(rows(d.At), rows(d.Bt), rows(d.a), rows(d.c)) for g, d in layer.items()} for layer in deltas]


class _Sampler:
    """Greedy (temperature 0) or sampling from a seeded generator, warped as transformers does:
    temperature, top-k, top-p, min-p in that order; stop tokens held back for ``min_new`` steps."""

    def __init__(self, temperature: float, top_p: float, seed: int | None, top_k: int = 0, min_p: float = 0.0,
                 stops: Sequence[int] = (), min_new: int = 0) -> None:
        self.temperature, self.top_p = float(temperature or 0.0), float(top_p)
        self.top_k, self.min_p = int(top_k or 0), float(min_p or 0.0)
        self.stops, self.min_new = torch.tensor(list(stops), dtype=torch.long), int(min_new or 0)
        self.generator = None  # without a seed: torch's global generator, so torch.manual_seed applies (as in HF generate)
        if self.temperature > 0 and seed is not None:
            self.generator = torch.Generator()
            self.generator.manual_seed(seed)

    def hold_stops(self, scores: torch.Tensor, step: int) -> torch.Tensor:
        """Stop tokens can't be chosen before ``min_new`` tokens (transformers' min_new_tokens)."""
        if step < self.min_new and self.stops.numel():
            scores = scores.index_fill(-1, self.stops, float("-inf"))
        return scores

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        if self.temperature <= 0:
            return scores.argmax(dim=-1)
        scores = scores / self.temperature
        if 0 < self.top_k < scores.shape[-1]:
            kth = scores.topk(self.top_k, dim=-1).values[..., -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if self.top_p < 1.0:
            sorted_scores, order = scores.sort(dim=-1, descending=True)
            cum = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
            drop = cum - sorted_scores.softmax(dim=-1) > self.top_p  # keep the smallest set reaching top_p
            sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
            scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
        if self.min_p > 0:
            probs = scores.softmax(dim=-1)
            scores = scores.masked_fill(probs < self.min_p * probs.max(dim=-1, keepdim=True).values, float("-inf"))
        return torch.multinomial(scores.softmax(dim=-1), 1, generator=self.generator).squeeze(-1)

