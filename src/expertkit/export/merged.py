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
from expertkit.export.compose_merge import check_foldable, fold
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
    """An export checked up front (sources, adapter types, output dir), so a front end can show
    progress for the slow part only: `run` loads, merges and saves. One expert, or the chain of
    a composition in application order with each link's weight."""

    def __init__(self, links: list[tuple[ExportSource, float]], output: Path, spec: str) -> None:
        self.links = links
        self.output = output
        self.spec = spec

    @property
    def source(self) -> ExportSource:
        """The expert that gives the merged model its name, base and request settings (the last applied)."""
        return self.links[-1][0]

    @classmethod
    def open(cls, name: str, output: Path, *, model: str | None = None) -> MergeJob:
        output = output.expanduser().absolute()
        check_empty(output)
        composed = COMPOSITION_SEPARATOR in name or (":" in name and not Path(name).expanduser().exists())  # a:0.5 too
        chain = composition_chain(name) if composed else [(name, 1.0)]
        links: list[tuple[ExportSource, float]] = []
        try:
            for ref, weight in chain:
                links.append((open_source(ref, model), weight))
            for source, _ in links:
                peft_type = str(source.adapter_config.get("peft_type", "")).upper()
                if peft_type not in MERGEABLE:
                    raise UsageError(f"{source.name}: a {peft_type or 'unknown'} adapter has no weights to merge into the base model",
                                     hint="serve it with expertkit's runtime (`expert-cli ask`), which loads every adapter type")
            bases = {s.base.name for s, _ in links}
            if len(bases) > 1:
                raise UsageError(f"{name}: the experts are for different base models ({', '.join(sorted(bases))})")
            check_foldable([(s.name, method_of(s.adapter_config), w) for s, w in links])
        except BaseException:
            for source, _ in links:
                source.close()
            raise
        return cls(links, output, name)

    def __enter__(self) -> MergeJob:
        return self

    def __exit__(self, *exc: object) -> None:
        for source, _ in self.links:
            source.close()

    def run(self, dtype: str | None = None) -> MergedExport:
        return _export(self, dtype)


def composition_chain(spec: str) -> list[tuple[str, float]]:
    """(NAME@VERSION, weight) per link, in application order, from the one composition resolver."""
    from expertkit.runtime.compose import resolve
    from expertkit.runtime.pool import installed_lookup

    chain = resolve(spec, installed_lookup)
    return [(f"{link.name}@{link.version}", float(link.weight)) for link in chain.links]


def method_of(config: dict[str, Any]) -> str:
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type == "LORA" and config.get("use_dora"):
        return "dora"
    return peft_type.lower()


def _export(job: MergeJob, dtype: str | None) -> MergedExport:
    source = job.source
    methods = "+".join(dict.fromkeys(method_of(s.adapter_config) for s, _ in job.links))
    names = "+".join(s.name for s, _ in job.links)
    merged, tokenizer, warnings = _merge(job, dtype)
    result = MergedExport(job.output, names, source.version, methods, source.base.name, warnings=warnings)
    with staged(job.output) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.chat_template = CHAT_TEMPLATE  # the format the expert was trained on
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / "expertkit_request.json", request_snippet(source, str(job.output)))  # `vllm serve DIR` serves it as DIR
        write_json(tmp / "expertkit_export.json", {
            "format": "merged", "spec": job.spec, "base_model": source.base.name,
            "chain": [{"expert": s.name, "version": s.version, "from": s.origin, "weight": w, "method": method_of(s.adapter_config),
                       "adapter_config": s.adapter_config} for s, w in job.links]})
        result.files = sorted(p.name for p in tmp.iterdir())
    return result


def _merge(job: MergeJob, dtype: str | None) -> tuple[Any, Any, list[str]]:
    import torch

    from expertkit.models.loading import load_base

    source = job.source
    loaded = load_base(source.base, device="cpu", dtype=dtype or torch.float32)
    try:
        merged = fold(loaded.model, [(s.adapter_dir, w) for s, w in job.links])
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise UsageError(f"{job.spec}: adapter does not fit base model {source.base.name}: {exc}",
                         hint="export with the base model the expert was trained on (--model)") from None
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
