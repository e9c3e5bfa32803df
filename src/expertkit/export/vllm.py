"""`export vllm`: LoRA experts as PEFT adapter directories vLLM serves, with the launch line.

Layout of the output directory::

    adapters/<name>/adapter_config.json, adapter_model.safetensors   one per expert
    requests/<name>.json      a chat request naming the LoRA: grammar, decoding, thinking switch
    chat_template.jinja       the prompt format the experts were trained on (no default system)
    serve.sh                  the `vllm serve` line
    export.json               what was exported, from where, and the launch argv

Every adapter is checked against vLLM's rules (`vllm_rules`) before anything is written; an
expert vLLM can't load is refused by name with the reason and `export merged` as the way out.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.atomic import write_json, write_text
from expertkit.errors import UsageError
from expertkit.export import vllm_rules
from expertkit.export.outdir import staged
from expertkit.export.requests import CHAT_TEMPLATE, request_snippet
from expertkit.export.sources import ExportSource, open_source


@dataclass
class VllmExport:
    output: Path
    base: str  # the model vLLM serves (what base_model_name must equal)
    argv: list[str]
    experts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def launch_line(self) -> str:
        return shlex.join(self.argv)


def export_vllm(names: list[str], output: Path, *, base: str | None = None, model: str | None = None,
                path_prefix: str | None = None) -> VllmExport:
    """Export ``names`` for vLLM into the new directory ``output``.

    ``base`` is what vLLM should serve (a hub id or a path on the serving machine; default: the
    local base model directory). ``path_prefix`` is where ``output`` will live there (default:
    here). UsageError names every refused expert and why.
    """
    if not names:
        raise UsageError("no experts to export", param="experts")
    if len(set(names)) != len(names):
        raise UsageError(f"an expert is named twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}", param="experts")
    sources: list[ExportSource] = []
    try:
        for name in names:
            sources.append(open_source(name, model))
        return _export(sources, output.expanduser().absolute(), base, path_prefix)
    finally:
        for source in sources:
            source.close()


def _export(sources: list[ExportSource], output: Path, base: str | None, path_prefix: str | None) -> VllmExport:
    from expertkit.models.resolve import resolve_model

    lora_names = [s.name for s in sources]
    if len(set(lora_names)) != len(lora_names):
        raise UsageError(f"two experts share a name ({', '.join(lora_names)}); vLLM needs one name per LoRA", param="experts")
    base_dirs = {s.name: resolve_model(s.base.name, prepare=False).path for s in sources}
    if len(set(base_dirs.values())) > 1:
        detail = ", ".join(f"{n} on {p}" for n, p in base_dirs.items())
        raise UsageError(f"the experts need different base models ({detail}); one vLLM server serves one base", param="experts")
    base_dir = next(iter(base_dirs.values()))
    architecture = _architecture(base_dir)
    _refuse(sources, architecture)
    served = base or str(base_dir)
    prefix = path_prefix.rstrip("/") if path_prefix else str(output)
    ranks = [int(s.adapter_config["r"]) for s in sources]
    argv = ["vllm", "serve", served, "--enable-lora", "--max-loras", str(len(sources)),
            "--max-lora-rank", str(vllm_rules.max_lora_rank_for(ranks)), "--chat-template", f"{prefix}/chat_template.jinja",
            "--lora-modules", *[json.dumps({"name": s.name, "path": f"{prefix}/adapters/{s.name}", "base_model_name": served})
                                for s in sources]]
    result = VllmExport(output, served, argv)
    if architecture not in vllm_rules.KNOWN_ARCHITECTURES:
        result.warnings.append(f"{architecture or 'the base model'}: target modules were checked against the Llama-family "
                               "projections; vLLM's own list for this architecture may differ")
    if base is None:
        result.warnings.append(f"vLLM will serve the local base model {base_dir}; on another machine pass the model "
                               "it should load there (the same weights the experts were trained on)")
    with staged(output) as tmp:
        for source, rank in zip(sources, ranks, strict=True):
            result.experts.append(_write_expert(source, tmp, served, rank))
        write_text(tmp / "chat_template.jinja", CHAT_TEMPLATE + "\n")
        write_text(tmp / "serve.sh", "#!/bin/sh\n# written by `expert-cli export vllm`\nexec " + result.launch_line + "\n", mode=0o755)
        write_json(tmp / "export.json", {"format": "vllm-lora", "base_model": served, "local_base_model": str(base_dir),
                                         "architecture": architecture, "argv": argv, "experts": result.experts})
    return result


def _architecture(base_dir: Path) -> str | None:
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    archs = config.get("architectures") or [None]
    return archs[0]


def _refuse(sources: list[ExportSource], architecture: str | None) -> None:
    """One UsageError naming every expert vLLM would refuse, with its reasons."""
    refused = []
    for source in sources:
        reasons = vllm_rules.check_adapter_dir(source.adapter_dir, architecture)
        if reasons:
            refused.append(f"{source.name} ({'; '.join(map(str, reasons))})")
    if refused:
        raise UsageError(f"vLLM can't serve {'; '.join(refused)}",
                         hint=f"`expert-cli {vllm_rules.ALTERNATIVE} EXPERT --output DIR` writes a plain model any engine loads")


def _write_expert(source: ExportSource, out: Path, served: str, rank: int) -> dict[str, Any]:
    adapter = out / "adapters" / source.name
    adapter.mkdir(parents=True)
    config = source.adapter_config
    config["base_model_name_or_path"] = served  # a path on this machine means nothing there
    write_json(adapter / "adapter_config.json", config)
    shutil.copyfile(source.adapter_dir / "adapter_model.safetensors", adapter / "adapter_model.safetensors")
    snippet = request_snippet(source, source.name)
    write_json(out / "requests" / f"{source.name}.json", snippet)
    return {"name": source.name, "version": source.version, "from": source.origin, "rank": rank,
            "lora_alpha": config.get("lora_alpha"), "use_rslora": bool(config.get("use_rslora")),
            "adapter": f"adapters/{source.name}", "request": f"requests/{source.name}.json",
            "grammar": "structured_outputs" in snippet["request"]["extra_body"], "notes": snippet["notes"]}
