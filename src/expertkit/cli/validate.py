"""`expert-cli validate`: report every manifest problem at once (exit 2 on errors, 0 with warnings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt, ManifestOpt
from expertkit.cli.output import Output, esc


def register(app: typer.Typer) -> None:
    app.command("validate", help="Check a manifest: types, ranges, names, files. Exit 2 on errors.")(validate)


def validate(
    manifest: ManifestOpt = Path("manifest.json"),
    json_out: JsonOpt = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    from expertkit.errors import ManifestError
    from expertkit.manifest.loader import inspect_manifest

    out = Output(json_out)
    try:
        loaded, problems = inspect_manifest(manifest)
    except ManifestError as exc:
        if not json_out:
            raise
        # unreadable / not JSON: still the validate report's shape, so machines read one shape
        out.result(_payload(manifest, None, [{"path": "", "message": exc.message, "severity": "error"}], []))
        raise typer.Exit(2) from None
    if strict:
        problems = [type(p)(p.path, p.message, "error") for p in problems]
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    out.result(_payload(manifest, loaded, [p.to_dict() for p in errors], [p.to_dict() for p in warnings]),
               lambda: _print_text(out, manifest, loaded, errors, warnings, strict))
    if errors:
        raise typer.Exit(2)


def _payload(manifest: Path, loaded, errors: list[dict], warnings: list[dict]) -> dict:
    return {
        "manifest": str(manifest),
        "valid": not errors,
        "name": loaded.model.name if loaded and not errors else None,
        "version": loaded.model.version if loaded and not errors else None,
        "migrated_from": loaded.migrated_from if loaded else None,
        "errors": errors,
        "warnings": warnings,
    }


def _print_text(out: Output, manifest: Path, loaded, errors: list, warnings: list, strict: bool) -> None:
    # escape: messages quote user text, which may contain [rich] markup
    for p in errors:
        out.print(f"[red]error[/]   {esc(str(p))}")
    for p in warnings:
        out.print(f"[yellow]warning[/] {esc(str(p))}")
    unknown = [p.path for p in warnings + errors if p.message.startswith("unknown key")]
    if unknown:
        out.print(f"unknown keys (kept as is; typos?): {esc(', '.join(unknown))}")
    where = esc(str(manifest))
    if not errors:
        name = esc(f"{loaded.model.name} {loaded.model.version}") if loaded else where
        note = " (schema 1.0, migrated to 2.0 in memory)" if loaded and loaded.migrated_from else ""
        out.print(f"[green]✓[/] {where}: {name} is valid{note}; {len(warnings)} warning(s)")
    else:
        extra = " (--strict: warnings count as errors)" if strict else ""
        out.print(f"[red]✗[/] {where}: {len(errors)} error(s), {len(warnings)} warning(s){extra}")
