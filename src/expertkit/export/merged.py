"""`export merged`: the base model with an expert's adapter folded into its weights, saved as a
plain Hugging Face model directory (safetensors, config, generation config, tokenizer, chat
template) that transformers, vLLM, TGI or llama.cpp's converter load with no PEFT at all.

PEFT's ``merge_and_unload`` does the arithmetic for LoRA, DoRA (magnitude and direction) and
IA3 (scaling vectors); prompt tuning has no weights to fold and is refused. A composition
(``a+b``) goes through `merge_composition`, the one call site for the constraint resolver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.atomic import write_json
from expertkit.errors import UsageError
from expertkit.export.outdir import check_empty, staged
from expertkit.export.requests import CHAT_TEMPLATE, request_snippet
from expertkit.export.sources import ExportSource, open_source

MERGEABLE = ("LORA", "IA3")  # PEFT peft_type values merge_and_unload folds (DoRA is LORA + use_dora)
COMPOSITION_SEPARATOR = "+"


@dataclass
class MergedExport:
    output: Path
    expert: str
    version: str
    method: str
    base_model: str
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def export_merged(name: str, output: Path, *, model: str | None = None, dtype: str | None = None) -> MergedExport:
    """Merge the expert ``name`` (or composition ``a+b``) into its base and save it in ``output``."""
    with MergeJob.open(name, output, model=model) as job:
        return job.run(dtype)


class MergeJob:
    """An export checked up front (source, adapter type, output dir), so a front end can show
    progress for the slow part only: `run` loads, merges and saves."""

    def __init__(self, source: ExportSource, output: Path) -> None:
        self.source = source
        self.output = output

    @classmethod
    def open(cls, name: str, output: Path, *, model: str | None = None) -> MergeJob:
        if COMPOSITION_SEPARATOR in name:
            return merge_composition(name.split(COMPOSITION_SEPARATOR), output, model=model)
        output = output.expanduser().absolute()
        check_empty(output)
        source = open_source(name, model)
        try:
            peft_type = str(source.adapter_config.get("peft_type", "")).upper()
            if peft_type not in MERGEABLE:
                raise UsageError(f"{source.name}: a {peft_type or 'unknown'} adapter has no weights to merge into the base model",
                                 hint="serve it with expertkit's runtime (`expert-cli ask`), which loads every adapter type")
        except BaseException:
            source.close()
            raise
        return cls(source, output)

    def __enter__(self) -> MergeJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.close()

    def run(self, dtype: str | None = None) -> MergedExport:
        return _export(self.source, self.output, dtype)


def merge_composition(names: list[str], output: Path, *, model: str | None = None) -> MergeJob:
    """A weighted merge of several experts: needs the constraint resolver (runtime/compose.py),
    which decides order, weights and compatibility for every front end. Until it lands this
    build refuses compositions rather than guess weights the runtime would not use."""
    try:
        import expertkit.runtime.compose  # noqa: F401  (the one resolver; see module docstring)
    except ImportError:
        raise UsageError(f"{'+'.join(names)}: exporting a composition needs the composition resolver, "
                         "which this build does not have yet",
                         hint="export one expert at a time, or serve the composition with expertkit's runtime") from None
    raise UsageError(f"{'+'.join(names)}: composition export is not wired to the resolver yet")


def method_of(config: dict[str, Any]) -> str:
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type == "LORA" and config.get("use_dora"):
        return "dora"
    return peft_type.lower()


def _export(source: ExportSource, output: Path, dtype: str | None) -> MergedExport:
    config = source.adapter_config
    merged, tokenizer, warnings = _merge(source, dtype)
    result = MergedExport(output, source.name, source.version, method_of(config), source.base.name, warnings=warnings)
    with staged(output) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.chat_template = CHAT_TEMPLATE  # the format the expert was trained on
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / "expertkit_request.json", request_snippet(source, str(output)))  # `vllm serve DIR` serves it as DIR
        write_json(tmp / "expertkit_export.json", {
            "format": "merged", "expert": source.name, "version": source.version, "from": source.origin,
            "method": result.method, "base_model": source.base.name, "adapter_config": config})
        result.files = sorted(p.name for p in tmp.iterdir())
    return result


def _merge(source: ExportSource, dtype: str | None) -> tuple[Any, Any, list[str]]:
    import torch
    from peft import PeftModel

    from expertkit.models.loading import load_base

    loaded = load_base(source.base, device="cpu", dtype=dtype or torch.float32)
    try:
        peft_model = PeftModel.from_pretrained(loaded.model, str(source.adapter_dir), is_trainable=False)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise UsageError(f"{source.name}: adapter does not fit base model {source.base.name}: {exc}",
                         hint="export with the base model the expert was trained on (--model)") from None
    merged = peft_model.merge_and_unload()
    merged.eval()
    merged.config.name_or_path = f"{source.name}-merged"
    _drop_adapter_markers(merged)
    return merged, loaded.tokenizer, list(loaded.warnings)


def _drop_adapter_markers(model: Any) -> None:
    """A merged model is a plain model: no PEFT config left in what save_pretrained writes."""
    for attr in ("peft_config", "_hf_peft_config_loaded"):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                pass
