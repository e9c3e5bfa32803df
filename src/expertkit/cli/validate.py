"""`expert-cli validate`: report every manifest problem at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.errors import handle_errors
from expertkit.cli.options import JsonOpt, ManifestOpt


def register(app: typer.Typer) -> None:
    app.command("validate", help="Check a manifest: types, ranges, names, files. Exit 2 on errors.")(validate)


@handle_errors
def validate(
    manifest: ManifestOpt = Path("manifest.json"),
    json_out: JsonOpt = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    from rich.console import Console

    from expertkit.manifest.loader import inspect_manifest

    loaded, problems = inspect_manifest(manifest)
    if strict:
        problems = [type(p)(p.path, p.message, "error") for p in problems]
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    ok = not errors
    if json_out:
        payload = {
            "manifest": str(manifest),
            "valid": ok,
            "migrated_from": loaded.migrated_from if loaded else None,
            "errors": [p.to_dict() for p in errors],
            "warnings": [p.to_dict() for p in warnings],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        out = Console(highlight=False, soft_wrap=True)
        for p in errors:
            out.print(f"[red]error[/]   {p}", markup=True)
        for p in warnings:
            out.print(f"[yellow]warning[/] {p}", markup=True)
        if ok:
            name = f"{loaded.model.name} {loaded.model.version}" if loaded else str(manifest)
            note = f" (schema 1.0, migrated to 2.0 in memory)" if loaded and loaded.migrated_from else ""
            out.print(f"[green]✓[/] {manifest}: {name} is valid{note}; {len(warnings)} warning(s)")
        else:
            out.print(f"[red]✗[/] {manifest}: {len(errors)} error(s), {len(warnings)} warning(s)")
    if not ok:
        raise typer.Exit(2)
