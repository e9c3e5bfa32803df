"""What each adapter type is at inference time, and whether it fits the loaded base model.

Four kinds attach to the pool (``kind_of`` reads PEFT's adapter_config.json):

- ``lora`` and ``dora``: loaded into one PEFT ``PeftModel`` as named adapters, so PEFT computes
  them (multi-adapter activation, per-row ``adapter_names`` batches, DoRA's magnitude vector).
- ``ia3``: the learned vectors scale the base layer's output (or, for feed-forward modules, its
  input) through forward hooks on the original ``nn.Linear`` modules. That is PEFT's IA3 forward
  exactly (tested against it), and it composes with LoRA on the same module: IA3 scales the base
  layer's own output, a LoRA delta adds on top. PEFT itself cannot hold IA3 and LoRA in one model.
- ``prompt_tuning``: the soft prompt's embeddings are prepended to the prompt's embeddings with
  an all-ones attention mask, as PEFT's prompt-tuning ``generate`` does.

``check_fit`` compares every tensor's shape with the base model's modules before anything is
loaded, so an adapter for another base model is refused with a clear error at attach time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError

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


@dataclass
class IA3Hooks:
    """Forward hooks on the base modules; each multiplies by the active IA3 experts' vectors."""

    active: list[dict[Any, tuple[Any, bool]]] = field(default_factory=list)
    _hooked: set[int] = field(default_factory=set)
    _handles: list[Any] = field(default_factory=list)

    def ensure(self, vectors: dict[Any, tuple[Any, bool]]) -> None:
        for module in vectors:
            if id(module) not in self._hooked:
                self._hooked.add(id(module))
                self._handles.append(module.register_forward_pre_hook(self._scale_input))
                self._handles.append(module.register_forward_hook(self._scale_output))

    def _scale(self, module: Any, tensor: Any, want_input: bool) -> Any:
        for vectors in self.active:
            found = vectors.get(module)
            if found is not None and found[1] == want_input:
                tensor = tensor * found[0]
        return tensor

    def _scale_input(self, module: Any, args: tuple[Any, ...]) -> Any:
        return (self._scale(module, args[0], True), *args[1:]) if self.active else None

    def _scale_output(self, module: Any, args: Any, output: Any) -> Any:
        return self._scale(module, output, False) if self.active else None

    @contextmanager
    def applied(self, chain: list[dict[Any, tuple[Any, bool]]]) -> Iterator[None]:
        self.active = chain
        try:
            yield
        finally:
            self.active = []
