"""`expert-cli install | list | info | uninstall | update`: the local expert registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.errors import handle_errors
from expertkit.cli.options import JsonOpt

AllowUnsignedOpt = Annotated[bool, typer.Option("--allow-unsigned", help="Install a package that has no signature.")]
PinOpt = Annotated[bool, typer.Option("--pin", help="Make this version current even when a newer one is installed.")]
TrustOpt = Annotated[bool, typer.Option("--trust", help="Accept (and remember) a signer that is not trusted yet.")]
FromOpt = Annotated[Path | None, typer.Option("--from", help="Folder of .expert files that can satisfy `requires`.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Reinstall a version that is already installed.")]
IgnoreBaseOpt = Annotated[bool, typer.Option("--ignore-base-model", help="Install although the base model is missing here or its digest differs.")]


def register(app: typer.Typer) -> None:
    app.command("install", help="Install an expert from a .expert file, an expert dir, git+URL#ref or an https URL.")(install)
    app.command("list", help="List installed experts.")(list_experts)
    app.command("info", help="Show an installed expert.")(info)
    app.command("uninstall", help="Remove an installed expert (NAME or NAME@VERSION).")(uninstall)
    app.command("update", help="Re-install an expert from its recorded source when that offers a newer version.")(update)


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _warn(out, warnings: list[str]) -> None:
    from rich.markup import escape

    for w in warnings:
        out.print(f"[yellow]warning[/] {escape(w)}")


@handle_errors
def install(
    source: Annotated[str, typer.Argument(help="x.expert | ./expert-dir | git+URL#ref | https://host/x.expert")],
    allow_unsigned: AllowUnsignedOpt = False,
    trust: TrustOpt = False,
    from_dir: FromOpt = None,
    force: ForceOpt = False,
    ignore_base_model: IgnoreBaseOpt = False,
    pin: PinOpt = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.registry.install import Options
    from expertkit.registry.install import install as do_install

    r = do_install(source, Options(allow_unsigned=allow_unsigned, trust=trust, from_dir=from_dir, reinstall=force,
                                   ignore_base_model=ignore_base_model, pin=pin))
    if json_out:
        typer.echo(json.dumps({"name": r.name, "version": r.version, "path": str(r.path), "signer": r.signer,
                               "trusted": r.trusted, "dependencies": r.dependencies, "warnings": r.warnings}, indent=2))
        return
    out = _console()
    _warn(out, r.warnings)
    for dep in r.dependencies:
        out.print(f"[green]✓[/] installed dependency {dep}")
    signer = f"signed by {r.signer[:16]}" if r.signer else "unsigned"
    out.print(f"[green]✓[/] installed {r.name} {r.version} -> {r.path} ({signer})")


@handle_errors
def list_experts(json_out: JsonOpt = False) -> None:
    from expertkit.registry.store import CURRENT_RULE, read_registry, shown_record
    from expertkit.registry.versions import version_key

    data = read_registry()
    for entry in data["experts"].values():
        entry["versions"] = {v: shown_record(entry["versions"][v]) for v in sorted(entry["versions"], key=version_key)}
    if json_out:
        typer.echo(json.dumps(data["experts"], indent=2))
        return
    out = _console()
    if not data["experts"]:
        out.print("no experts installed (install one with `expert-cli install FILE.expert`)")
        return
    from rich.table import Table

    table = Table("name", "current", "versions", "signer", "source")
    for name, entry in sorted(data["experts"].items()):
        record = entry["versions"].get(entry.get("current"), {})
        versions = ", ".join(sorted(entry["versions"], key=version_key))
        current = (entry.get("current") or "-") + (" (pinned)" if entry.get("pinned") else "")
        signer = (record.get("signer") or "unsigned")[:16] + ("" if record.get("trusted") or not record.get("signer") else " (not trusted now)")
        table.add_row(name, current, versions, signer, record.get("source", ""))
    out.print(table)
    out.print(f"[dim]{CURRENT_RULE}[/]")


@handle_errors
def info(name: Annotated[str, typer.Argument(help="Expert name (NAME or NAME@VERSION).")], json_out: JsonOpt = False) -> None:
    from expertkit.registry.refs import parse_ref, resolve_ref
    from expertkit.registry.store import CURRENT_RULE, read_registry, shown_record
    from expertkit.registry.versions import version_key

    data = read_registry()
    ref = parse_ref(name)
    wanted = ref.name
    version, record = resolve_ref(data, ref)
    record = shown_record(record)
    manifest_path = Path(record["path"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    payload = {"name": wanted, "version": version, "current": data["experts"][wanted].get("current"),
               "pinned": bool(data["experts"][wanted].get("pinned")), "current_rule": CURRENT_RULE,
               "versions": sorted(data["experts"][wanted]["versions"], key=version_key), **record,
               "description": manifest.get("description"), "capabilities": manifest.get("capabilities", []),
               "adapter": (manifest.get("base_models") or [{}])[0].get("adapters", [None])[0] if manifest else None}
    if json_out:
        typer.echo(json.dumps(payload, indent=2))
        return
    out = _console()
    from rich.markup import escape

    for key, value in payload.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else json.dumps(value) if isinstance(value, dict) else value
        out.print(f"[bold]{key:>18}[/] {escape(str(shown))}")


@handle_errors
def uninstall(
    target: Annotated[str, typer.Argument(help="NAME (every version) or NAME@VERSION.")],
    force: Annotated[bool, typer.Option("--force", help="Remove even when another installed expert requires it.")] = False,
) -> None:
    from expertkit.registry.uninstall import uninstall as do_uninstall

    r = do_uninstall(target, force=force)
    out = _console()
    _warn(out, r.warnings)
    rest = f"; current is now {r.current}" if r.current else ""
    out.print(f"[green]✓[/] removed {r.name} {', '.join(r.removed)}{rest}")


@handle_errors
def update(
    name: Annotated[str, typer.Argument(help="Installed expert NAME (its current version) or NAME@VERSION.")],
    allow_unsigned: AllowUnsignedOpt = False,
    trust: TrustOpt = False,
    from_dir: FromOpt = None,
    force: ForceOpt = False,
    ignore_base_model: IgnoreBaseOpt = False,
) -> None:
    from expertkit.registry.install import Options
    from expertkit.registry.refs import parse_ref, resolve_ref
    from expertkit.registry.store import read_registry
    from expertkit.registry.update import update as do_update

    _, record = resolve_ref(read_registry(), parse_ref(name))
    opts = Options(allow_unsigned=allow_unsigned or bool(record.get("allow_unsigned")), trust=trust, from_dir=from_dir,
                   reinstall=force, ignore_base_model=ignore_base_model)
    r = do_update(name, opts)
    out = _console()
    if not r.updated:
        out.print(f"{name} {r.old_version} is up to date (source offers {r.new_version})")
        return
    _warn(out, r.install.warnings if r.install else [])
    out.print(f"[green]✓[/] updated {name} {r.old_version} -> {r.new_version}")
