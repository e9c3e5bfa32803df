"""PEFT adapters turned into per-linear deltas for the fast decoder (`runtime/decoder.py`).

Every adapter type becomes the same shape on each of a layer's four fused linears
(``qkv``, ``o``, ``gate_up``, ``down``):

    y = c ⊙ (W (a ⊙ x)) + B (A x)

- LoRA: A, B = s·B_peft (s = alpha/r, or alpha/sqrt(r) with rsLoRA); no scales.
- DoRA: with g = m / ||W + s·B_peft·A||_row (PEFT's weight norm, computed here once, at attach):
  c = g and B = g ⊙ s·B_peft — exactly PEFT's `(g - 1)·Wx + g·s·B A x` added to `Wx`.
- IA3: c = l for attention-style targets, a = l for `feedforward_modules` (input scaling).
- Prompt tuning: no delta; virtual token embeddings prepended at prefill.

Composition of a chain ((name, w), ...): the runtime's one rule (`runtime/compose.py`), each expert
in chain (load) order wrapping what came before it — the layer PEFT builds when adapters are loaded
one on top of another — per linear, with ``f`` the chain so far (f = W at the start):
``f(x) <- c_e ⊙ f(a_e ⊙ x) + w·B_e A_e x``, c_e = 1 + w (g - 1) for DoRA, l^w for an IA3 output
scale, 1 otherwise; a_e = l for an IA3 input scale (feed-forward modules), 1 otherwise. So:
- LoRA deltas add with their weights: A = cat(A_i), B = cat(w_i·B_i) — PEFT's
  `add_weighted_adapter(combination_type="cat")`.
- DoRA rescales what came before it, exactly as PEFT's forward with several active DoRA adapters
  (each adapter's `(g - 1)·result` term sees the previous adapters' output).
- IA3 scales what came before it: an output scale multiplies the earlier B's (c), an input scale
  the earlier A's (and W); IA3 scales together multiply (PEFT's several-active-adapters product).
- Soft prompts are prepended in chain order.
A fused linear's sub-modules (q/k/v, gate/up) share the input, so an IA3 input scale on only some
of them is refused at attach with a clear error, as is anything else this path can't represent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from expertkit.errors import UsageError

# PEFT target name -> (fused linear, index of the part inside it)
PARTS = {"q_proj": ("qkv", 0), "k_proj": ("qkv", 1), "v_proj": ("qkv", 2), "o_proj": ("o", 0),
         "gate_proj": ("gate_up", 0), "up_proj": ("gate_up", 1), "down_proj": ("down", 0)}
GROUPS = ("qkv", "o", "gate_up", "down")


@dataclass
class Delta:
    """y = c ⊙ (W (a ⊙ x)) + B (A x) on one fused linear; None = identity / no low-rank term."""

    A: torch.Tensor | None = None  # [R, in]
    B: torch.Tensor | None = None  # [out, R]
    a: torch.Tensor | None = None  # [in]
    c_add: torch.Tensor | None = None  # DoRA's g (at weight w: 1 + w (g - 1))
    c_mul: torch.Tensor | None = None  # IA3's l on the output (combined multiplicatively)


@dataclass
class Expert:
    name: str
    kind: str  # lora | dora | ia3 | prompt
    deltas: dict[tuple[int, str], Delta] = field(default_factory=dict)  # (layer, group) -> delta
    prompt: torch.Tensor | None = None  # [n_virtual, hidden]
    nbytes: int = 0  # tensors held for this expert (merged weights are counted by the decoder)


def read_expert(name: str, adapter_dir: str | Path, stack: Any) -> Expert:
    """Read a PEFT adapter directory and check it fits ``stack`` (a `decoder_layers.Stack`)."""
    root = Path(adapter_dir)
    config_path = root / "adapter_config.json"
    if not config_path.is_file():
        raise UsageError(f"expert {name}: {root} has no adapter_config.json (not a PEFT adapter directory)")
    config = json.loads(config_path.read_text())
    tensors = _load_tensors(root, name)
    kind = str(config.get("peft_type", "")).lower()
    if kind == "lora":
        return _read_lora(name, config, tensors, stack)
    if kind == "ia3":
        return _read_ia3(name, config, tensors, stack)
    if kind == "prompt_tuning":
        prompt = tensors.get("prompt_embeddings")
        if prompt is None or prompt.dim() != 2 or prompt.shape[1] != stack.hidden:
            shape = None if prompt is None else tuple(prompt.shape)
            raise UsageError(f"expert {name}: soft prompt of shape {shape} does not fit the base model (hidden size {stack.hidden})")
        prompt = prompt.to(stack.dtype)
        return Expert(name, "prompt", prompt=prompt, nbytes=prompt.numel() * prompt.element_size())
    raise UsageError(f"expert {name}: adapter type {config.get('peft_type')!r} is not supported by the decoder "
                     "(LORA, DoRA, IA3, PROMPT_TUNING are)")


def _load_tensors(root: Path, name: str) -> dict[str, torch.Tensor]:
    st, pt = root / "adapter_model.safetensors", root / "adapter_model.bin"
    if st.is_file():
        from safetensors.torch import load_file

        raw = load_file(str(st))
    elif pt.is_file():
        raw = torch.load(str(pt), map_location="cpu", weights_only=True)
    else:
        raise UsageError(f"expert {name}: {root} has no adapter_model.safetensors")
    return raw


def _split_key(key: str) -> tuple[int, str, str] | None:
    """'...layers.3.self_attn.q_proj.lora_A.weight' -> (3, 'q_proj', 'lora_A'); None for other keys."""
    parts = key.split(".")
    if "layers" not in parts:
        return None
    i = parts.index("layers")
    module = next((p for p in parts[i + 1:] if p in PARTS), None)
    if module is None:
        return None
    tail = parts[parts.index(module) + 1]
    return int(parts[i + 1]), module, tail


def _modules(name: str, tensors: dict[str, torch.Tensor], stack: Any) -> dict[tuple[int, str], dict[str, torch.Tensor]]:
    found: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        where = _split_key(key)
        if where is None:
            raise UsageError(f"expert {name}: tensor {key} targets a module the decoder does not handle "
                             f"(supported: {', '.join(PARTS)})")
        layer, module, tail = where
        if layer >= stack.n_layers:
            raise UsageError(f"expert {name}: tensor {key} names layer {layer}; the base model has {stack.n_layers}")
        found.setdefault((layer, module), {})[tail] = value
    return found


def _check_shape(name: str, where: tuple[int, str], what: str, got: tuple[int, ...], want: tuple[int, ...]) -> None:
    if got != want:
        raise UsageError(f"expert {name}: layers.{where[0]}.{where[1]}.{what} has shape {got}, the base model needs {want} "
                         "(an adapter for another base model?)")


def _read_lora(name: str, config: dict, tensors: dict[str, torch.Tensor], stack: Any) -> Expert:
    # layers_to_transform needs nothing here: deltas are read per tensor found, so the layers it leaves out get none
    if config.get("modules_to_save"):
        raise UsageError(f"expert {name}: adapter_config modules_to_save={config['modules_to_save']!r} "
                         "is not supported by the decoder")
    if config.get("bias", "none") != "none" or config.get("fan_in_fan_out"):
        raise UsageError(f"expert {name}: LoRA bias/fan_in_fan_out adapters are not supported by the decoder")
    alpha, rslora = float(config.get("lora_alpha", 8)), bool(config.get("use_rslora"))
    dora = bool(config.get("use_dora"))
    parts: dict[tuple[int, str], list[tuple[int, Delta]]] = {}
    for (layer, module), found in _modules(name, tensors, stack).items():
        A, B = found.get("lora_A"), found.get("lora_B")
        if A is None or B is None:
            raise UsageError(f"expert {name}: layers.{layer}.{module} lacks lora_A or lora_B")
        group, index = PARTS[module]
        out, inp = stack.part_shape(group, index)
        r = A.shape[0]
        _check_shape(name, (layer, module), "lora_A", tuple(A.shape), (r, inp))
        _check_shape(name, (layer, module), "lora_B", tuple(B.shape), (out, r))
        a_pat = _pattern(config.get("alpha_pattern") or {}, layer, module, alpha)
        scale = a_pat / (math.sqrt(r) if rslora else r)
        A, B = A.to(torch.float32), B.to(torch.float32) * scale
        delta = Delta(A=A, B=B)
        if dora:
            m = found.get("lora_magnitude_vector")
            if m is None:
                raise UsageError(f"expert {name}: DoRA adapter lacks layers.{layer}.{module}.lora_magnitude_vector")
            W = stack.part_weight(layer, group, index).to(torch.float32)
            g = m.to(torch.float32).flatten() / torch.linalg.norm(W + B @ A, dim=1)
            delta = Delta(A=A, B=g[:, None] * B, c_add=g)
        parts.setdefault((layer, group), []).append((index, delta))
    expert = Expert(name, "dora" if dora else "lora")
    for (layer, group), items in parts.items():
        expert.deltas[(layer, group)] = _fuse(stack, group, items)
    return _finish(expert, stack)


def _pattern(patterns: dict[str, Any], layer: int, module: str, default: float) -> float:
    """PEFT's alpha_pattern: a key that is a suffix of the module's full name (or its bare name)."""
    full = f"model.layers.{layer}.{'self_attn' if PARTS[module][0] in ('qkv', 'o') else 'mlp'}.{module}"
    for key, value in patterns.items():
        if key == module or full == key or full.endswith(f".{key}"):
            return float(value)
    return default


def _read_ia3(name: str, config: dict, tensors: dict[str, torch.Tensor], stack: Any) -> Expert:
    ff = set(config.get("feedforward_modules") or [])
    if isinstance(config.get("feedforward_modules"), str):
        raise UsageError(f"expert {name}: IA3 feedforward_modules as a regex is not supported by the decoder")
    parts: dict[tuple[int, str], list[tuple[int, Delta]]] = {}
    for (layer, module), found in _modules(name, tensors, stack).items():
        vec = found.get("ia3_l")
        if vec is None:
            raise UsageError(f"expert {name}: layers.{layer}.{module} lacks ia3_l")
        group, index = PARTS[module]
        out, inp = stack.part_shape(group, index)
        vec = vec.to(torch.float32).flatten()
        if module in ff:
            _check_shape(name, (layer, module), "ia3_l", tuple(vec.shape), (inp,))
            if group in ("qkv", "gate_up"):
                raise UsageError(f"expert {name}: IA3 input scaling on {module} (a fused projection) is not supported "
                                 "by the decoder; use it on down_proj/o_proj")
            delta = Delta(a=vec)
        else:
            _check_shape(name, (layer, module), "ia3_l", tuple(vec.shape), (out,))
            delta = Delta(c_mul=vec)
        parts.setdefault((layer, group), []).append((index, delta))
    expert = Expert(name, "ia3")
    for (layer, group), items in parts.items():
        expert.deltas[(layer, group)] = _fuse(stack, group, items)
    return _finish(expert, stack)


def _fuse(stack: Any, group: str, items: list[tuple[int, Delta]]) -> Delta:
    """Deltas of a fused linear's parts (q/k/v or gate/up) as one delta: block-diagonal B, joined scales."""
    out, inp = stack.group_shape(group)
    offsets = stack.part_offsets(group)
    As, Bs, fused = [], [], Delta()
    for index, d in sorted(items, key=lambda t: t[0]):
        lo, hi = offsets[index], offsets[index + 1]
        if d.A is not None:
            B = torch.zeros(out, d.A.shape[0])
            B[lo:hi] = d.B
            As.append(d.A)
            Bs.append(B)
        for attr in ("c_add", "c_mul"):
            vec = getattr(d, attr)
            if vec is not None:
                if getattr(fused, attr) is None:
                    setattr(fused, attr, torch.ones(out))
                getattr(fused, attr)[lo:hi] = vec
        if d.a is not None:
            fused.a = d.a
    if As:
        fused.A, fused.B = torch.cat(As), torch.cat(Bs, dim=1)
    return fused


def _finish(expert: Expert, stack: Any) -> Expert:
    for key, d in expert.deltas.items():
        for attr in ("A", "B", "a", "c_add", "c_mul"):
            t = getattr(d, attr)
            if t is not None:
                t = t.to(stack.dtype).contiguous()
                setattr(d, attr, t)
                expert.nbytes += t.numel() * t.element_size()
        expert.deltas[key] = d
    return expert


def combine(experts: list[tuple[Expert, float]], stack: Any) -> dict[tuple[int, str], Delta]:
    """One delta per fused linear for a weighted chain, applied in chain order (module docstring)."""
    keys = sorted({k for e, _ in experts for k in e.deltas})
    combined: dict[tuple[int, str], Delta] = {}
    for key in keys:
        As: list[torch.Tensor] = []
        Bs: list[torch.Tensor] = []
        out = Delta()
        for expert, w in experts:
            d = expert.deltas.get(key)
            if d is None:
                continue
            scale = _weighted_scale(d, w)
            if scale is not None:  # y <- c_e ⊙ y + B_e A_e x: earlier terms are rescaled too
                Bs = [scale[:, None] * B for B in Bs]
                out.c_mul = scale if out.c_mul is None else out.c_mul * scale
            if d.A is not None:
                As.append(d.A)
                Bs.append(d.B * w)
            if d.a is not None:  # x <- a_e ⊙ x for everything before it: the base weight and earlier A's
                a = d.a if w == 1 else d.a.pow(w)
                out.a = a if out.a is None else out.a * a
                As = [A * a[None, :] for A in As]
        if As:
            out.A, out.B = torch.cat(As), torch.cat(Bs, dim=1)
        combined[key] = out
    return combined


def _weighted_scale(d: Delta, w: float) -> torch.Tensor | None:
    """An expert's output scale at weight w: DoRA's 1 + w (g - 1), IA3's l^w."""
    scale = None if d.c_add is None else 1 + w * (d.c_add - 1)
    if d.c_mul is not None:
        ia3 = d.c_mul if w == 1 else d.c_mul.pow(w)
        scale = ia3 if scale is None else scale * ia3
    return scale


def out_scale(d: Delta) -> torch.Tensor | None:
    """The combined output scale c of a delta (DoRA's additive part times IA3's product)."""
    if d.c_add is None:
        return d.c_mul
    return d.c_add if d.c_mul is None else d.c_add * d.c_mul


def merge(W_T: torch.Tensor, d: Delta, out: torch.Tensor | None = None) -> torch.Tensor:
    """W'_T ([in, out], like the decoder's weights) with x W'_T = c ⊙ ((a ⊙ x) W_T) + (x A^T) B^T, written
    into ``out`` (a contiguous tensor shaped like W_T, e.g. from a huge-page arena) when given."""
    merged = torch.empty_like(W_T, memory_format=torch.contiguous_format) if out is None else out
    if d.a is None:
        merged.copy_(W_T)
    else:
        torch.mul(W_T, d.a[:, None], out=merged)
    c = out_scale(d)
    if c is not None:
        merged.mul_(c[None, :])
    if d.A is not None:
        merged.addmm_(d.A.t(), d.B.t())
    return merged
