"""`expert-cli models list|prepare|import`: the base models expertkit can resolve offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from expertkit.cli.errors import handle_errors
from expertkit.cli.options import JsonOpt

models_app = typer.Typer(help="Base models: built-in aliases, imported models, one-time GGUF conversion.", no_args_is_help=True)


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
@handle_errors
def list_cmd(json_out: JsonOpt = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from expertkit.models.inventory import list_models

    data = list_models()
    if json_out:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="Base models", title_justify="left")
    for col in ("name", "source", "architecture", "params", "size", "ready", "path"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "params", "size", "ready"))
    for row in data["models"]:
        ready = "[green]yes[/]" if row["ready"] else "[yellow]no[/]" if row["source"] == "alias" else "[red]missing[/]"
        table.add_row(
            row["name"], f"{row['source']} ({row['kind']})", row["architecture"] or "-", _human_params(row["parameters"]),
            _human_size(row["size_bytes"]), ready, row["path"],
        )
    out = Console(highlight=False)
    out.print(table)
    if any(r["source"] == "alias" and not r["ready"] for r in data["models"]):
        out.print("not ready: run `expert-cli models prepare [NAME]` once (or let the first use convert it)")


def _run_with_progress(label: str, work: Any) -> Any:
    """Run ``work(progress_callback)`` under a rich status bar fed by the library's step callback."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=5)

        def step(text: str, n: int, total: int) -> None:
            bar.update(task, description=f"{label}: {text}", completed=n - 1, total=total)

        result = work(step)
        bar.update(task, description=f"{label}: done", completed=bar.tasks[0].total)
    return result


@models_app.command("prepare", help="Convert a built-in model once (GGUF -> safetensors, ~30-60 s). Default: smollm2-135m-instruct.")
@handle_errors
def prepare_cmd(
    name: Annotated[str, typer.Argument(help="Alias to prepare.")] = "smollm2-135m-instruct",
    force: Annotated[bool, typer.Option("--force", help="Convert again even if already prepared.")] = False,
    json_out: JsonOpt = False,
) -> None:
    import time

    from expertkit.errors import UsageError
    from expertkit.models.aliases import ALIASES, alias_dir, find_alias, is_ready, prepare_alias
    from expertkit.models.index import model_entry

    alias = find_alias(name)
    if alias is None:
        raise UsageError(f"{name!r} is not a built-in alias (known: {', '.join(ALIASES)})", hint="imported models need no preparation; see `expert-cli models list`")
    already = is_ready(alias_dir(alias)) and not force
    start = time.monotonic()
    if already or json_out:
        path = prepare_alias(alias, force=force)
    else:
        path = _run_with_progress(f"preparing {alias.name}", lambda step: prepare_alias(alias, force=force, progress=step))
    elapsed = time.monotonic() - start
    entry = model_entry(alias.name) or {}
    if not entry.get("sha256"):  # prepared by an older run or copied in: read the facts from the files
        from expertkit.models.digest import model_digest
        from expertkit.models.inventory import dir_facts

        entry = {**entry, **dir_facts(path), "sha256": model_digest(path)}
    if json_out:
        typer.echo(json.dumps({"name": alias.name, "path": str(path), "converted": not already, "seconds": round(elapsed, 1), **entry}, indent=2))
        return
    state = "already prepared" if already else f"prepared in {elapsed:.1f} s"
    typer.echo(f"{alias.name}: {state} -> {path}")
    typer.echo(f"  {entry.get('architecture')}, {_human_params(entry.get('parameters'))} parameters, sha256 {entry.get('sha256')}")


@models_app.command("import", help="Register a local HF model directory (referenced, or --copy) or convert a .gguf file under a name.")
@handle_errors
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A Hugging Face model directory or a .gguf file.")],
    name: Annotated[str | None, typer.Option("--name", help="Name to use in manifests (default: the directory or file name).")] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy the directory into EXPERT_HOME instead of referencing it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a model already imported under this name.")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.models.importing import import_model

    is_gguf = path.suffix.lower() == ".gguf"
    if is_gguf and not json_out:
        entry = _run_with_progress(f"converting {path.name}", lambda step: import_model(path, name, copy=copy, force=force, progress=step))
    else:
        entry = import_model(path, name, copy=copy, force=force)
    if json_out:
        typer.echo(json.dumps(entry, indent=2))
        return
    typer.echo(f"imported {entry['name']!r} ({entry['kind']}): {entry['path']}")
    typer.echo(f"  {entry.get('architecture')}, {_human_params(entry.get('parameters'))} parameters, sha256 {entry['sha256']}")
    typer.echo(f"  use it with \"base_models\": [{{\"name\": \"{entry['name']}\"}}]")


@models_app.command("show", help="Resolve NAME (alias, imported name or model dir) and show where it lives and its digest.")
@handle_errors
def show_cmd(
    name: Annotated[str, typer.Argument(help="A base model name as written in base_models[].name.")],
    json_out: JsonOpt = False,
) -> None:
    from expertkit.models.digest import model_digest
    from expertkit.models.inventory import dir_facts
    from expertkit.models.resolve import resolve_model

    resolved = resolve_model(name, prepare=False)
    info = {"name": name, "source": resolved.source, "path": str(resolved.path), **dir_facts(resolved.path), "sha256": model_digest(resolved.path)}
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"{name}: {info['source']} -> {info['path']}")
    typer.echo(f"  {info['architecture']}, {_human_params(info['parameters'])} parameters, sha256 {info['sha256']}")
