"""Load a resolved base model with its tokenizer and chat template.

``load_base`` accepts a model name or a manifest ``BaseModelSpec``; from the spec it takes the
sha256 to check, ``rope_scaling`` and ``quantization``. Things worth telling the user that do
not stop the load (an unsupported RoPE type, int4 requested on CPU, no chat template) are
returned in ``LoadedBase.warnings``: the library never prints, the CLI shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expertkit.manifest.model import BaseModelSpec
from expertkit.models.digest import check_digest
from expertkit.models.gguf import quiet_progress_bars
from expertkit.models.load_options import apply_rope_scaling, pick_device, pick_dtype, quantization_kwargs
from expertkit.models.resolve import ResolvedModel, resolve_model

__all__ = ["LoadedBase", "load_base", "load_tokenizer", "pick_device"]


@dataclass
class LoadedBase:
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    resolved: ResolvedModel
    warnings: list[str] = field(default_factory=list)  # shown by the CLI; empty when all went as asked
    device: str = "cpu"
    digest: str | None = None  # set when the spec's sha256 was checked


def load_tokenizer(resolved: ResolvedModel, warnings: list[str] | None = None) -> Any:
    """The model's tokenizer, with a pad token and `<|im_end|>` as eos when the vocabulary has it."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
    if not getattr(tokenizer, "chat_template", None) and warnings is not None:
        warnings.append(f"{resolved.name}: the tokenizer has no chat template; prompts use expertkit's ChatML formatting")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _stop_ids(model: Any, tokenizer: Any) -> None:
    """Make generation stop at `<|im_end|>` (ChatML end of turn) as well as the model's own eos."""
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if not isinstance(im_end, int) or im_end == tokenizer.unk_token_id:
        return
    eos = model.generation_config.eos_token_id
    ids = [] if eos is None else list(eos) if isinstance(eos, (list, tuple)) else [eos]
    if im_end not in ids:
        model.generation_config.eos_token_id = [im_end, *ids] if ids else im_end
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def load_base(
    spec: BaseModelSpec | str,
    *,
    device: str = "auto",
    dtype: Any = None,
    check_sha256: bool = True,
    field_name: str = "base_models[0]",
) -> LoadedBase:
    """Resolve and load a base model (float32 unless ``dtype`` or the spec's fp16/bf16 says otherwise).

    ``dtype`` may be a torch dtype or a name (float32/float16/bfloat16). ``field_name`` names the
    manifest entry in messages. Raises ModelNotFoundError, EnvironmentProblem (cuda missing),
    IntegrityError (sha256 mismatch), ValidationError (bad rope_scaling / sha256).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    name = spec if isinstance(spec, str) else spec.name
    quantization = None if isinstance(spec, str) else spec.quantization
    warnings: list[str] = []
    target = pick_device(device)
    resolved = resolve_model(name)
    digest = None
    if check_sha256 and not isinstance(spec, str) and spec.sha256 and spec.sha256.strip():
        digest = check_digest(resolved.path, spec.sha256, name=name, field=f"{field_name}.sha256")
    config = AutoConfig.from_pretrained(str(resolved.path))
    if not isinstance(spec, str):
        apply_rope_scaling(config, spec.rope_scaling, f"{field_name}.rope_scaling", warnings)
    torch_dtype = pick_dtype(dtype, quantization, target, warnings)
    quant = quantization_kwargs(quantization, target, torch_dtype, warnings)
    tokenizer = load_tokenizer(resolved, warnings)
    with quiet_progress_bars():
        model = AutoModelForCausalLM.from_pretrained(str(resolved.path), config=config, dtype=torch_dtype, **quant)
    if not quant:  # bitsandbytes places quantized weights itself
        model.to(target)
    model.eval()
    _stop_ids(model, tokenizer)
    return LoadedBase(model, tokenizer, resolved, warnings, target, digest)
