"""Manifest load options applied to a base model: device, dtype, RoPE scaling, quantization.

Each function returns what to pass to transformers plus human-readable warnings; the loader
collects the warnings into ``LoadedBase.warnings`` (the library never prints).
"""

from __future__ import annotations

import logging
from typing import Any

from expertkit.errors import EnvironmentProblem, UsageError, ValidationError

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def pick_device(device: str = "auto") -> str:
    """auto -> cuda when available else cpu; cuda without a GPU is an EnvironmentProblem."""
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise EnvironmentProblem(
                f"device {device}: CUDA is not available on this machine (torch {torch.__version__}, no GPU visible)",
                param="device",
                hint="use --device cpu (or auto), or install a CUDA build of torch",
            )
        return device
    raise UsageError(f"device {device!r}: expected auto, cpu or cuda", param="device")


def pick_dtype(dtype: Any, quantization: str | None, device: str, warnings: list[str]) -> Any:
    """Explicit ``dtype`` wins; else the manifest's fp16/bf16; else float32."""
    import torch

    if dtype is not None and not isinstance(dtype, str):
        return dtype
    name = dtype or (quantization if quantization in ("fp16", "bf16") else None) or "float32"
    if name not in DTYPES:
        raise UsageError(f"dtype {name!r}: expected one of float32, float16, bfloat16")
    chosen = getattr(torch, DTYPES[name])
    if chosen is torch.float16 and device == "cpu":
        warnings.append("float16 on CPU is slow and poorly supported; loading float32 instead")
        return torch.float32
    return chosen


def quantization_kwargs(quantization: str | None, device: str, dtype: Any, warnings: list[str]) -> dict[str, Any]:
    """int4/int8 -> a bitsandbytes config on CUDA; elsewhere an unquantized load plus a warning."""
    if quantization not in ("int4", "int8"):
        return {}
    if device == "cpu":
        warnings.append(f"quantization {quantization} needs bitsandbytes on CUDA; on CPU the model loads unquantized ({str(dtype).replace('torch.', '')})")
        return {}
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        warnings.append(f"quantization {quantization} needs the bitsandbytes package (not installed); the model loads unquantized")
        return {}
    from transformers import BitsAndBytesConfig

    if quantization == "int4":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    else:
        config = BitsAndBytesConfig(load_in_8bit=True)
    return {"quantization_config": config, "device_map": {"": device}}


def _rope_request(rope_scaling: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(rope_scaling, str):
        return {"rope_type": rope_scaling.strip()}
    params = {k: v for k, v in rope_scaling.items() if not str(k).startswith("_")}  # _comment etc. are notes
    if "type" in params and "rope_type" not in params:
        params["rope_type"] = params.pop("type")
    params.pop("type", None)
    return params


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def apply_rope_scaling(config: Any, rope_scaling: str | dict[str, Any] | None, field: str, warnings: list[str]) -> None:
    """Merge the manifest's rope_scaling into ``config.rope_parameters`` when transformers supports the type."""
    if not rope_scaling:
        return
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    params = _rope_request(rope_scaling)
    rope_type = str(params.get("rope_type", "default"))
    if rope_type == "default":
        return
    if rope_type not in ROPE_INIT_FUNCTIONS:
        warnings.append(
            f"{field}: RoPE scaling type {rope_type!r} is not supported by transformers "
            f"(supported: {', '.join(sorted(ROPE_INIT_FUNCTIONS))}); using the model's own RoPE settings"
        )
        return
    current = getattr(config, "rope_parameters", None)
    if not isinstance(current, dict) or any(isinstance(v, dict) for v in current.values()):
        warnings.append(f"{field}: this model ({config.model_type}) has no single RoPE config to scale; rope_scaling ignored")
        return
    if "max_position_embeddings" in params:  # a config attribute, not a rope parameter
        config.max_position_embeddings = int(params.pop("max_position_embeddings"))
    merged = {**current, **params}
    merged.setdefault("original_max_position_embeddings", getattr(config, "max_position_embeddings", None))
    _validate_rope(config, merged, field, warnings)


def _validate_rope(config: Any, merged: dict[str, Any], field: str, warnings: list[str]) -> None:
    # transformers reports unknown keys through its logger; capture them as our warnings instead of printing.
    rope_logger = logging.getLogger("transformers.modeling_rope_utils")
    capture, propagate = _Capture(), rope_logger.propagate
    previous = config.rope_parameters
    rope_logger.addHandler(capture)
    rope_logger.propagate = False
    try:
        config.rope_parameters = merged
        config.validate_rope()
    except (KeyError, ValueError, TypeError) as exc:
        config.rope_parameters = previous
        raise ValidationError(f"{field}: {exc}", hint="see transformers' rope_parameters docs for the keys each type needs") from exc
    finally:
        rope_logger.removeHandler(capture)
        rope_logger.propagate = propagate
    warnings.extend(f"{field}: {m}" for m in capture.messages)
