"""What each adapter type is at inference time, and whether it fits the loaded base model.

Four kinds attach to the pool (``kind_of`` reads PEFT's adapter_config.json):

- ``lora`` and ``dora``: loaded into one PEFT ``PeftModel`` as named adapters, so PEFT computes
  them (multi-adapter activation, per-row ``adapter_names`` batches, DoRA's magnitude vector).
- ``ia3``: the learned vectors scale a layer's output (or, for feed-forward modules, its input)
  through forward hooks put on for each activation (`IA3Hooks`). Alone, that is PEFT's IA3
  forward exactly (tested against it). With LoRA/DoRA on the same module the chain's order
  decides, as when PEFT loads one adapter on top of another (tested against that): an IA3 before
  them in load order scales the base layer only; one after them scales the adapted layer (its
  output scale covers their deltas, its input scale feeds them). PeftMixedModel has no IA3.
- ``prompt_tuning``: the soft prompt's embeddings are prepended to the prompt's embeddings with
  an all-ones attention mask, as PEFT's prompt-tuning ``generate`` does.

``check_fit`` compares every tensor's shape with the base model's modules before anything is
loaded, so an adapter for another base model is refused with a clear error at attach time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertkit.errors import CompositionError, UsageError

KINDS = ("lora", "dora", "ia3", "prompt_tuning")
_PREFIX = "base_model.model."


@dataclass
class AdapterFiles:
    """adapter_config.json and the tensors of adapter_model.safetensors (on CPU)."""

    config: dict[str, Any]
    tensors: dict[str, Any]
    kind: str

    @property
    def param_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    @property
    def modules_to_save(self) -> tuple[str, ...]:
        return tuple(self.config.get("modules_to_save") or ())


def kind_of(config: dict[str, Any], origin: str) -> str:
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type == "LORA":
        return "dora" if config.get("use_dora") else "lora"
    if peft_type in ("IA3", "PROMPT_TUNING"):
        return peft_type.lower()
    raise UsageError(f"adapter {origin}: adapter type {peft_type or 'unknown'!r} is not supported by the runtime",
                     hint=f"supported: {', '.join(KINDS)}")


def read_adapter(directory: Path, origin: str) -> AdapterFiles:
    from safetensors.torch import load_file

    config = json.loads((directory / "adapter_config.json").read_text(encoding="utf-8"))
    weights = directory / "adapter_model.safetensors"
    if not weights.is_file():
        raise UsageError(f"adapter {origin} has no adapter_model.safetensors", hint="save the adapter with safetensors (PEFT's default)")
    return AdapterFiles(config, load_file(str(weights)), kind_of(config, origin))


def _module_of(key: str) -> str:
    name = key[len(_PREFIX):] if key.startswith(_PREFIX) else key
    for marker in (".lora_", ".ia3_"):
        if marker in name:
            return name[: name.index(marker)]
    return name


def check_fit(files: AdapterFiles, model: Any, origin: str, base_name: str) -> None:
    """Raise UsageError naming the first tensor that doesn't fit ``model`` (the bare base model)."""
    modules = dict(model.named_modules())
    hidden = model.get_input_embeddings().weight.shape[1]
    for key, tensor in files.tensors.items():
        shape = tuple(tensor.shape)
        if files.kind == "prompt_tuning":
            ok, want = len(shape) == 2 and shape[1] == hidden, f"[tokens, {hidden}]"
        else:
            module = modules.get(_module_of(key))
            module = getattr(module, "base_layer", module)
            if module is None or not hasattr(module, "in_features"):
                raise UsageError(f"adapter {origin} does not fit base model {base_name}: no linear module {_module_of(key)!r} "
                                 f"(tensor {key})", hint="attach the adapter to the base model it was trained on")
            ok, want = _shape_ok(key, shape, module.in_features, module.out_features)
        if not ok:
            raise UsageError(f"adapter {origin} does not fit base model {base_name}: {key} has shape {list(shape)}, "
                             f"the model needs {want}", hint="attach the adapter to the base model it was trained on")


def _shape_ok(key: str, shape: tuple[int, ...], n_in: int, n_out: int) -> tuple[bool, str]:
    if "lora_A" in key:
        return len(shape) == 2 and shape[1] == n_in, f"[r, {n_in}]"
    if "lora_B" in key:
        return len(shape) == 2 and shape[0] == n_out, f"[{n_out}, r]"
    if "magnitude" in key:
        return shape == (n_out,), f"[{n_out}]"
    if "ia3_l" in key:
        return shape in ((n_out, 1), (1, n_in)), f"[{n_out}, 1] or [1, {n_in}]"
    return True, ""


# -- IA3 ---------------------------------------------------------------------------------------
def ia3_vectors(files: AdapterFiles, model: Any) -> dict[Any, tuple[Any, bool]]:
    """Base nn.Linear module -> (scale vector, scales the input); feed-forward modules scale the input."""
    feedforward = set(files.config.get("feedforward_modules") or [])
    modules = dict(model.named_modules())
    out: dict[Any, tuple[Any, bool]] = {}
    for key, tensor in files.tensors.items():
        name = _module_of(key)
        module = modules[name]
        module = getattr(module, "base_layer", module)
        is_ff = any(name == f or name.endswith("." + f) for f in feedforward)
        out[module] = (tensor.flatten().to(module.weight.dtype), is_ff)
    return out


def ia3_links(experts: list[Any]) -> list[tuple[dict[Any, tuple[Any, bool]], bool]]:
    """A chain's IA3 experts (attached experts, in load order) for `IA3Hooks.applied`: their vectors
    and whether they come after the chain's LoRA/DoRA experts; one between two of them is refused."""
    low_rank = [i for i, e in enumerate(experts) if e.kind in ("lora", "dora")] or [len(experts)]
    ia3 = [(i, e) for i, e in enumerate(experts) if e.ia3 is not None]
    between = [e.name for i, e in ia3 if low_rank[0] < i < low_rank[-1]]
    if between:
        raise CompositionError(f"{between[0]} (IA3) sits between LoRA/DoRA experts in load order: the transformers "
                               "backend applies LoRA/DoRA experts together, so it can't scale only the earlier ones",
                               hint="the decoder backend runs such chains; or change the experts' load_order")
    return [(e.ia3, i > low_rank[0]) for i, e in ia3]


class IA3Hooks:
    """Hooks that apply a chain's IA3 vectors for one activation, then come off again.

    An IA3 expert *inner* to the chain's LoRA/DoRA experts (before them in load order) scales the
    base ``nn.Linear`` itself; one *outer* to them (after) scales the PEFT wrapper around it, so
    its output scale covers the LoRA deltas too and its input scale feeds them — what PEFT computes
    when an IA3 adapter is loaded on top of a LoRA model (the rule in `runtime/compose.py`)."""

    @contextmanager
    def applied(self, chain: list[tuple[dict[Any, tuple[Any, bool]], bool]], outer: Any = None) -> Iterator[None]:
        """``chain``: (vectors, is outer) per IA3 expert; ``outer(module)`` is the module wrapping a base linear."""
        handles = []
        try:
            for vectors, is_outer in chain:
                for module, (vector, scales_input) in vectors.items():
                    target = outer(module) if is_outer and outer is not None else module
                    if scales_input:
                        handles.append(target.register_forward_pre_hook(lambda _m, args, v=vector: (args[0] * v, *args[1:])))
                    else:
                        handles.append(target.register_forward_hook(lambda _m, _args, out, v=vector: out * v))
            yield
        finally:
            for handle in handles:
                handle.remove()
