"""`expert-cli models list|prepare|import`: the base models expertkit can resolve offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from expertkit.cli.errors import WrappingGroup
from expertkit.cli.options import JsonOpt
from expertkit.cli.output import Output, esc

models_app = typer.Typer(cls=WrappingGroup, help="Base models: built-in aliases, imported models, one-time GGUF conversion.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def _human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _human_params(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


@models_app.command("list", help="Aliases and imported models: architecture, parameters, size on disk, ready or not.")
def list_cmd(json_out: JsonOpt = False) -> None:
    from expertkit.models.inventory import list_models

    out = Output(json_out)
    data = list_models()
    out.result(data, lambda: _print_models(out, data))


def _print_models(out: Output, data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Base models", title_justify="left")
    for col in ("name", "source", "architecture", "params", "size", "ready", "path"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "params", "size", "ready"))
    for row in data["models"]:
        ready = "[green]yes[/]" if row["ready"] else "[yellow]no[/]" if row["source"] == "alias" else "[red]missing[/]"
        table.add_row(
            esc(row["name"]), f"{row['source']} ({row['kind']})", row["architecture"] or "-", _human_params(row["parameters"]),
            _human_size(row["size_bytes"]), ready, esc(row["path"]),
        )
    out.table(table)
    if any(r["source"] == "alias" and not r["ready"] for r in data["models"]):
        out.print(esc("not ready: run `expert-cli models prepare [NAME]` once (or let the first use convert it)"))


def _run_with_progress(out: Output, label: str, work: Any) -> Any:
    """Run ``work(progress_callback)`` fed by the library's step callback: a bar on a terminal,
    one plain line per step (on stderr) otherwise."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not out.err.is_terminal:
        return work(lambda text, n, total: out.err.print(f"{esc(label)}: {esc(text)} ({n}/{total})"))
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=out.err, transient=False) as bar:
        task = bar.add_task(label, total=5)

        def step(text: str, n: int, total: int) -> None:
            bar.update(task, description=f"{label}: {text}", completed=n - 1, total=total)

        result = work(step)
        bar.update(task, description=f"{label}: done", completed=bar.tasks[0].total)
    return result


@models_app.command("prepare", help="Convert a built-in model once (GGUF -> safetensors, ~30-60 s). Default: smollm2-135m-instruct.")
def prepare_cmd(
    name: Annotated[str, typer.Argument(help="Alias to prepare.")] = "smollm2-135m-instruct",
    force: Annotated[bool, typer.Option("--force", help="Convert again even if already prepared.")] = False,
    json_out: JsonOpt = False,
) -> None:
    import time

    from expertkit.errors import UsageError
    from expertkit.models.aliases import ALIASES, alias_dir, find_alias, is_ready, prepare_alias
    from expertkit.models.index import model_entry

    out = Output(json_out)
    alias = find_alias(name)
    if alias is None:
        raise UsageError(f"{name!r} is not a built-in alias (known: {', '.join(ALIASES)})", hint="imported models need no preparation; see `expert-cli models list`")
    already = is_ready(alias_dir(alias)) and not force
    start = time.monotonic()
    if already or json_out:
        path = prepare_alias(alias, force=force)
    else:
        path = _run_with_progress(out, f"preparing {alias.name}", lambda step: prepare_alias(alias, force=force, progress=step))
    elapsed = time.monotonic() - start
    entry = model_entry(alias.name) or {}
    if not entry.get("sha256"):  # prepared by an older run or copied in: read the facts from the files
        from expertkit.models.digest import model_digest
        from expertkit.models.inventory import dir_facts

        entry = {**entry, **dir_facts(path), "sha256": model_digest(path)}
    state = "already prepared" if already else f"prepared in {elapsed:.1f} s"
    out.result({"name": alias.name, "path": str(path), "converted": not already, "seconds": round(elapsed, 1), **entry},
               lambda: _facts(out, f"{alias.name}: {state} -> {path}", entry))


@models_app.command("import", help="Register a local HF model directory (referenced, or --copy) or convert a .gguf file under a name.")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A Hugging Face model directory or a .gguf file.")],
    name: Annotated[str | None, typer.Option("--name", help="Name to use in manifests (default: the directory or file name).")] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy the directory into EXPERT_HOME instead of referencing it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a model already imported under this name.")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.models.importing import import_model

    out = Output(json_out)
    is_gguf = path.suffix.lower() == ".gguf"
    if is_gguf and not json_out:
        entry = _run_with_progress(out, f"converting {path.name}", lambda step: import_model(path, name, copy=copy, force=force, progress=step))
    else:
        entry = import_model(path, name, copy=copy, force=force)

    def human() -> None:
        _facts(out, f"imported {entry['name']!r} ({entry['kind']}): {entry['path']}", entry)
        out.print(esc(f"  use it with \"base_models\": [{{\"name\": \"{entry['name']}\"}}]"))

    out.result(entry, human)


@models_app.command("show", help="Resolve NAME (alias, imported name or model dir) and show where it lives and its digest.")
def show_cmd(
    name: Annotated[str, typer.Argument(help="A base model name as written in base_models[].name.")],
    json_out: JsonOpt = False,
) -> None:
    from expertkit.models.digest import model_digest
    from expertkit.models.inventory import dir_facts
    from expertkit.models.resolve import resolve_model

    out = Output(json_out)
    resolved = resolve_model(name, prepare=False)
    info = {"name": name, "source": resolved.source, "path": str(resolved.path), **dir_facts(resolved.path), "sha256": model_digest(resolved.path)}
    out.result(info, lambda: _facts(out, f"{name}: {info['source']} -> {info['path']}", info))


def _facts(out: Output, headline: str, entry: dict[str, Any]) -> None:
    out.print(esc(headline))
    out.print(esc(f"  {entry.get('architecture')}, {_human_params(entry.get('parameters'))} parameters, sha256 {entry.get('sha256')}"))
