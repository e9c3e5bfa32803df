"""What vLLM accepts as a LoRA adapter and as `vllm serve` LoRA flags, encoded in plain Python.

Read from vLLM's source (repository vllm-project/vllm), so an export is refused here, with the
reason, instead of failing on the GPU machine:

* ``vllm/lora/peft_helper.py`` (``PEFTHelper``): ``adapter_config.json`` must give ``r``,
  ``lora_alpha`` and ``target_modules``; ``use_dora`` is refused ("vLLM does not yet support
  DoRA"), so is a non-empty ``modules_to_save`` and ``bias`` other than "none"; ``r`` must be
  positive and at most ``--max-lora-rank``. Unknown keys are dropped silently (``from_dict``),
  so ``rank_pattern``/``alpha_pattern`` would be ignored and those modules scaled wrongly:
  refused here. The scale is ``lora_alpha / r``, or ``lora_alpha / sqrt(r)`` with ``use_rslora``.
* ``vllm/config/lora.py`` (``LoRAConfig``): ``max_lora_rank`` is one of
  ``MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]``; ``max_loras >= 1``.
* ``vllm/lora/utils.py`` (``parse_fine_tuned_lora_name``): every tensor is
  ``<module>.lora_A.weight`` / ``<module>.lora_B.weight`` (or ``lora_embedding_A/B``), anything
  else "is unsupported LoRA weight"; ``vllm/lora/lora_model.py``: the module's last name must be
  one of the model's LoRA-capable layers ("expected target modules in ... but received ...").
  For the Llama/Qwen families those are the linear projections below (vLLM packs q/k/v into
  ``qkv_proj`` and gate/up into ``gate_up_proj`` and accepts the PEFT names of the parts).
* ``vllm/entrypoints/openai/cli_args.py`` (``LoRAParserAction``): each ``--lora-modules`` value
  is ``name=path`` or ONE JSON object ``{"name", "path", "base_model_name"}`` (a JSON list is
  not accepted: it is passed to ``LoRAModulePath(**obj)``).

vLLM has no loader for IA3, prompt tuning or the other PEFT methods; those are refused too.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm/config/lora.py MaxLoRARanks
REQUIRED_FIELDS = ("r", "lora_alpha", "target_modules")  # PEFTHelper's fields without defaults
LINEAR_PROJECTIONS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
# architectures whose vLLM model classes expose exactly these LoRA-capable layers
KNOWN_ARCHITECTURES = {
    "LlamaForCausalLM": LINEAR_PROJECTIONS,
    "MistralForCausalLM": LINEAR_PROJECTIONS,
    "Qwen2ForCausalLM": LINEAR_PROJECTIONS,
    "Qwen3ForCausalLM": LINEAR_PROJECTIONS,
}
ALTERNATIVE = "export merged"  # what every refusal points to: a plain model any engine loads


@dataclass(frozen=True)
class Refusal:
    """One reason vLLM would not load an adapter: ``what`` names the field or tensor."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


def safetensors_names(path: str | Path) -> list[str]:
    """Tensor names in a safetensors file, read from its JSON header (no torch needed)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    return sorted(name for name in header if name != "__metadata__")


def check_config(config: dict[str, Any], *, max_rank: int = MAX_LORA_RANKS[-1]) -> list[Refusal]:
    """Every reason vLLM's PEFTHelper would refuse ``adapter_config.json`` (empty when it loads)."""
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        return [Refusal("peft_type", f"{peft_type} adapters have no vLLM loader (vLLM serves LoRA only)")]
    out = [Refusal(key, "missing (vLLM requires r, lora_alpha and target_modules)") for key in REQUIRED_FIELDS if key not in config]
    if config.get("use_dora"):
        out.append(Refusal("use_dora", "DoRA: vLLM does not yet support DoRA"))
    if config.get("modules_to_save"):
        out.append(Refusal("modules_to_save", f"{config['modules_to_save']}: vLLM only supports modules_to_save being None"))
    if config.get("bias", "none") != "none":
        out.append(Refusal("bias", f"{config['bias']!r}: vLLM does not support adapter bias"))
    for key in ("rank_pattern", "alpha_pattern"):
        if config.get(key):
            out.append(Refusal(key, "per-module ranks/alphas: vLLM reads only r and lora_alpha and would scale those modules wrongly"))
    if config.get("trainable_token_indices"):
        out.append(Refusal("trainable_token_indices", "trained token rows are not loaded by most vLLM versions"))
    rank = config.get("r")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0):
        out.append(Refusal("r", f"{rank!r}: LoRA rank must be a positive integer"))
    elif isinstance(rank, int) and rank > max_rank:
        out.append(Refusal("r", f"rank {rank} is greater than the largest max_lora_rank vLLM supports ({max_rank})"))
    return out


def check_tensors(names: list[str], architecture: str | None) -> list[Refusal]:
    """Refusals for tensor names vLLM can't parse or modules it can't adapt in ``architecture``."""
    supported = KNOWN_ARCHITECTURES.get(architecture or "", LINEAR_PROJECTIONS)
    out: list[Refusal] = []
    unparsed = [name for name in names if lora_module(name) is None]
    if unparsed:
        more = f" and {len(unparsed) - 1} more" if len(unparsed) > 1 else ""
        out.append(Refusal(unparsed[0] + more, "unsupported LoRA weight (vLLM reads only <module>.lora_A.weight / lora_B.weight)"))
    bad_modules = {m.rsplit(".", 1)[-1] for m in map(lora_module, names) if m is not None} - supported
    if bad_modules:
        out.append(Refusal("target_modules", f"{', '.join(sorted(bad_modules))}: not a LoRA layer of {architecture or 'this model'} "
                                             f"in vLLM (expected {', '.join(sorted(supported))})"))
    if not names:
        out.append(Refusal("adapter_model.safetensors", "holds no tensors"))
    return out


def lora_module(name: str) -> str | None:
    """The module a tensor belongs to, as vLLM's parse_fine_tuned_lora_name reads it, or None."""
    parts = name.split(".")
    start = 2 if name.startswith("base_model.model.") else 0
    if len(parts) >= 3 and parts[-1] == "weight" and parts[-2] in ("lora_A", "lora_B"):
        return ".".join(parts[start:-2])
    if parts[-1] in ("lora_embedding_A", "lora_embedding_B"):
        return ".".join(parts[start:-1])
    return None


def check_adapter_dir(directory: str | Path, architecture: str | None) -> list[Refusal]:
    """All refusals for a PEFT adapter directory (config and tensors)."""
    directory = Path(directory)
    config = json.loads((directory / "adapter_config.json").read_text(encoding="utf-8"))
    refusals = check_config(config)
    if refusals:
        return refusals  # the tensors follow from the config (DoRA's magnitude vectors...): say the cause once
    weights = directory / "adapter_model.safetensors"
    if not weights.is_file():
        return [*refusals, Refusal("adapter_model.safetensors", "missing (vLLM loads safetensors or .bin; we export safetensors)")]
    return refusals + check_tensors(safetensors_names(weights), architecture)


def max_lora_rank_for(ranks: list[int]) -> int:
    """The smallest ``--max-lora-rank`` value vLLM accepts that fits every rank."""
    top = max(ranks)
    for value in MAX_LORA_RANKS:
        if value >= top:
            return value
    raise ValueError(f"rank {top} exceeds vLLM's largest max_lora_rank {MAX_LORA_RANKS[-1]}")


def check_serve_args(argv: list[str]) -> list[str]:
    """Problems vLLM's argument parser would raise for our `vllm serve` line (empty when it parses)."""
    problems: list[str] = []
    if argv[:2] != ["vllm", "serve"] or len(argv) < 3 or argv[2].startswith("-"):
        return ["expected `vllm serve MODEL ...`"]
    model = argv[2]
    flags = _flag_values(argv[3:])
    if "--enable-lora" not in flags:
        problems.append("--enable-lora is missing")
    rank = flags.get("--max-lora-rank", ["16"])
    if len(rank) != 1 or not rank[0].isdigit() or int(rank[0]) not in MAX_LORA_RANKS:
        problems.append(f"--max-lora-rank {rank}: must be one of {MAX_LORA_RANKS}")
    loras = flags.get("--max-loras", ["1"])
    if len(loras) != 1 or not loras[0].isdigit() or int(loras[0]) < 1:
        problems.append(f"--max-loras {loras}: must be an integer >= 1")
    for item in flags.get("--lora-modules", []):
        problems.extend(_check_lora_module(item, model))
    return problems


def _flag_values(args: list[str]) -> dict[str, list[str]]:
    flags: dict[str, list[str]] = {}
    current = None
    for arg in args:
        if arg.startswith("--"):
            current = arg
            flags.setdefault(arg, [])
        elif current is not None:
            flags[current].append(arg)
    return flags


def _check_lora_module(item: str, model: str) -> list[str]:
    if "=" in item and "," not in item:  # the old name=path form
        return []
    try:
        obj = json.loads(item)
    except json.JSONDecodeError:
        return [f"--lora-modules {item!r}: invalid JSON"]
    if not isinstance(obj, dict):
        return [f"--lora-modules {item!r}: must be one JSON object per value (vLLM calls LoRAModulePath(**obj))"]
    unknown = set(obj) - {"name", "path", "base_model_name"}
    problems = [f"--lora-modules {item!r}: unknown fields {sorted(unknown)}"] if unknown else []
    if not obj.get("name") or not obj.get("path"):
        problems.append(f"--lora-modules {item!r}: name and path are required")
    if obj.get("base_model_name") not in (None, model):
        problems.append(f"--lora-modules {item!r}: base_model_name must be the served model {model!r}")
    return problems
