"""Will this manifest train and install *here*? Warnings `validate` shows before a long run finds out.

Separate from the manifest's own checks (which judge the file alone): these look at this machine —
whether each base model resolves, whether settings need hardware it lacks (then saying what
training does instead, the same fallbacks trainer.py and load_options.py apply), and whether the
prepared splits are still the set the last `dataset prepare` wrote.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

from expertkit.manifest.problems import Problem

GPU_QUANT = ("int4", "int8")


def readiness_problems(loaded: Any) -> list[Problem]:
    """Warnings (never errors): a manifest that is valid may still be for another machine."""
    from expertkit.data.staging import check_prepared

    out = [Problem("training.dataset", message, "warning") for message in check_prepared(loaded)]
    out += _base_model_problems(loaded.model)
    out += _hardware_problems(loaded.model)
    return out


def _base_model_problems(model: Any) -> list[Problem]:
    from expertkit.errors import EnvironmentProblem, ModelNotFoundError
    from expertkit.models.aliases import find_alias
    from expertkit.models.resolve import resolve_model

    out = []
    for i, base in enumerate(model.base_models):
        try:
            resolve_model(base.name, prepare=False)
        except ModelNotFoundError as exc:
            out.append(Problem(f"base_models[{i}].name", f"{base.name!r} does not resolve on this machine (train, test and "
                               f"install will stop here): {exc.hint or exc.message}", "warning"))
        except EnvironmentProblem as exc:
            if find_alias(base.name) is not None:
                continue  # a built-in alias not converted yet: the first command that needs it converts it
            out.append(Problem(f"base_models[{i}].name", f"{exc.message}; {exc.hint}" if exc.hint else exc.message, "warning"))
    return out


@cache
def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _hardware_problems(model: Any) -> list[Problem]:
    """Settings whose hardware is missing here, and the fallback that will be used instead."""
    cfg = model.training.config
    needs = [(f"base_models[{i}].quantization", b.quantization) for i, b in enumerate(model.base_models)
             if b.quantization in GPU_QUANT or b.quantization in ("fp16", "bf16")]
    flags = [name for name in ("fp16", "bf16", "use_unsloth") if getattr(cfg, name)]
    if not needs and not flags:
        return []  # nothing to ask of the hardware: don't pay for importing torch
    cuda = _has_cuda()
    out = []
    for where, quant in needs:
        if quant in GPU_QUANT and not cuda:
            out.append(f"{where}: {quant} needs a CUDA GPU with bitsandbytes; on this CPU-only machine the model "
                       "loads unquantized in float32 (about 4-8x the memory)")
        elif quant in GPU_QUANT and not _installed("bitsandbytes"):
            out.append(f"{where}: {quant} needs the bitsandbytes package (not installed); the model loads unquantized")
        elif quant == "fp16" and not cuda:
            out.append(f"{where}: fp16 on a CPU is slow and poorly supported; the model loads in float32 instead")
    for flag in ("fp16", "bf16"):
        if flag in flags and not cuda:
            out.append(f"training.config.{flag}: mixed precision needs a CUDA GPU; training runs in float32 on this CPU")
    if "use_unsloth" in flags and not (cuda and _installed("unsloth")):
        lacking = "a CUDA GPU" if not cuda else "the unsloth package"
        out.append(f"training.config.use_unsloth: unsloth needs {lacking}, which this machine lacks; training uses plain PEFT")
    return [Problem(m.split(": ", 1)[0], m.split(": ", 1)[1], "warning") for m in out]
