"""`expert-cli new NAME`: create an expert directory (the guide's Step 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt
from expertkit.cli.output import Output, esc, quote
from expertkit.scaffold.manifest import DEFAULT_BASE_MODEL


def register(app: typer.Typer) -> None:
    app.command("new", help="Create a new expert directory with a manifest that validates as created.")(new)


def new(
    name: Annotated[str, typer.Argument(help="Expert name: `sql` or `expert-sql` (lower case letters, digits, dashes).")],
    directory: Annotated[
        Path | None, typer.Option("--dir", "-d", help="Directory to create (default: ./expert-<name>).")
    ] = None,
    base_model: Annotated[
        str, typer.Option("--base-model", help="Base model alias, imported model name or local model directory.")
    ] = DEFAULT_BASE_MODEL,
    adapter: Annotated[str, typer.Option("--adapter", help="Adapter type: dora (recommended), lora or ia3.")] = "dora",
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty directory (overwrites the expert's files).")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.scaffold.create import create_expert

    out = Output(json_out)
    result = create_expert(name, directory, base_model=base_model, adapter=adapter.lower(), force=force)

    def human() -> None:
        out.print(f"[green]✓[/] created {esc(result.name)} in {esc(result.path)} ({len(result.files)} files)")
        for rel in result.files:
            mark = " [yellow](overwritten)[/]" if rel in result.overwritten else ""
            out.print(f"  {esc(rel)}{mark}")
        out.print("next:")
        out.print(f"  cd {esc(quote(result.path))}")
        out.print("  expert-cli validate --manifest manifest.json")
        out.print("  # add raw examples to datasets/raw/, then: expert-cli dataset prepare")

    out.result({"name": result.name, "path": str(result.path), "files": result.files, "overwritten": result.overwritten}, human)
