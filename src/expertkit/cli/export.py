"""`expert-cli export vllm|merged`: hand experts to another serving engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt, ModelOpt
from expertkit.cli.output import Output, esc

export_app = typer.Typer(help="Hand experts to another serving engine (vLLM LoRA, or a merged model).", no_args_is_help=True)

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="New (or empty) directory to write.")]


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("vllm", help="Write LoRA experts as vLLM adapters, a `vllm serve` line and per-expert request snippets.")
def vllm(
    experts: Annotated[list[str], typer.Argument(help="Installed NAME[@VERSION], .expert files or expert directories.")],
    output: OutputOpt,
    base: Annotated[str | None, typer.Option("--base", help="Model vLLM serves (hub id or path there); default: the local base model dir.")] = None,
    path_prefix: Annotated[str | None, typer.Option("--path-prefix", help="Where the output dir will be on the serving machine (default: here).")] = None,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.export.vllm import export_vllm

    out = Output(json_out)
    result = export_vllm(experts, output, base=base, model=model, path_prefix=path_prefix)
    out.warnings(result.warnings)
    payload = {"output": str(result.output), "base_model": result.base, "launch": result.launch_line, "argv": result.argv,
               "experts": result.experts, "warnings": result.warnings}

    def human() -> None:
        for e in result.experts:
            grammar = "grammar" if e["grammar"] else "no grammar"
            out.print(f"[green]✓[/] {esc(e['name'])} {esc(e['version'])}: rank {e['rank']}, {grammar} -> "
                      f"{esc(result.output / e['adapter'])}")
            for note in e["notes"]:
                out.print(f"  note: {esc(note)}")
        out.print(f"launch ({esc(result.output / 'serve.sh')}):")
        out.print(esc(result.launch_line))

    out.result(payload, human)


@export_app.command("merged", help="Merge an expert into its base model: a plain Hugging Face model directory any engine loads.")
def merged(
    expert: Annotated[str, typer.Argument(help="Installed NAME[@VERSION] (or installed experts composed as a+b:0.5), a .expert file or an expert directory.")],
    output: OutputOpt,
    model: ModelOpt = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="float32 (default), float16 or bfloat16.")] = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.export.merged import MergeJob

    out = Output(json_out)
    with MergeJob.open(expert, output, model=model) as job, out.step(f"merging {job.source.name} into {job.source.base.name}"):
        result = job.run(dtype)
    out.warnings(result.warnings)
    payload = {"output": str(result.output), "expert": result.expert, "version": result.version, "method": result.method,
               "base_model": result.base_model, "files": result.files, "warnings": result.warnings}

    def human() -> None:
        out.print(f"[green]✓[/] {esc(result.expert)} {esc(result.version)} ({result.method}) merged into "
                  f"{esc(result.base_model)} -> {esc(result.output)}")
        out.print(f"  files: {esc(', '.join(result.files))}")
        out.print(f"  load it: AutoModelForCausalLM.from_pretrained({esc(repr(str(result.output)))}) or `vllm serve {esc(result.output)}`")

    out.result(payload, human)
