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
    problems = problems + _grammar_problems(manifest)
    if loaded is not None:
        from expertkit.training.readiness import readiness_problems

        problems = problems + readiness_problems(loaded)
    if strict:
        problems = [type(p)(p.path, p.message, "error") for p in problems]
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    out.result(_payload(manifest, loaded, [p.to_dict() for p in errors], [p.to_dict() for p in warnings]),
               lambda: _print_text(out, manifest, loaded, errors, warnings, strict))
    if errors:
        raise typer.Exit(2)


def _grammar_problems(manifest: Path) -> list:
    """The grammar compiles and names the rules the manifest uses (needs a manifest whose types are valid)."""
    from expertkit.manifest.loader import parse_manifest, read_json
    from expertkit.runtime.grammar import grammar_problems

    model, _, _ = parse_manifest(read_json(manifest), manifest.parent, check_files=False)
    return grammar_problems(model, manifest.parent) if model is not None else []


def _identity(manifest: Path, errors: list[dict]) -> tuple[str | None, str | None]:
    """name and version as written, each when it is itself valid (other errors don't hide them)."""
    from expertkit.manifest.checks import identity_format_problems
    from expertkit.manifest.loader import read_json

    try:
        raw = read_json(manifest)
    except Exception:  # noqa: BLE001 - unreadable: reported as an error already
        return None, None
    name, version = (raw.get(k) if isinstance(raw, dict) else None for k in ("name", "version"))
    bad = {p.path for p in identity_format_problems(name if isinstance(name, str) else None,
                                                     version if isinstance(version, str) else None)}
    bad |= {e["path"] for e in errors}
    return (name if isinstance(name, str) and "name" not in bad else None,
            version if isinstance(version, str) and "version" not in bad else None)


def _payload(manifest: Path, loaded, errors: list[dict], warnings: list[dict]) -> dict:
    name, version = _identity(manifest, errors) if errors or loaded is None else (loaded.model.name, loaded.model.version)
    return {
        "manifest": str(manifest),
        "valid": not errors,
        "name": name,
        "version": version,
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
