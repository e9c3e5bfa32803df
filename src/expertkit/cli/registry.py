"""`expert-cli install | list | info | uninstall | update`: the local expert registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt
from expertkit.cli.output import Output, esc

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

    out = Output(json_out)
    r = do_install(source, Options(allow_unsigned=allow_unsigned, trust=trust, from_dir=from_dir, reinstall=force,
                                   ignore_base_model=ignore_base_model, pin=pin))
    out.warnings(r.warnings)

    def human() -> None:
        for dep in r.dependencies:
            out.print(f"[green]✓[/] installed dependency {esc(dep)}")
        signer = f"signed by {r.signer[:16]}" if r.signer else "unsigned"
        out.print(f"[green]✓[/] installed {esc(r.name)} {esc(r.version)} -> {esc(r.path)} ({signer})")

    out.result({"name": r.name, "version": r.version, "path": str(r.path), "signer": r.signer,
                "trusted": r.trusted, "dependencies": r.dependencies, "warnings": r.warnings}, human)


def list_experts(json_out: JsonOpt = False) -> None:
    from expertkit.registry.store import CURRENT_RULE, read_registry, shown_record
    from expertkit.registry.versions import version_key

    out = Output(json_out)
    experts = sorted(read_registry()["experts"].items())
    for _, entry in experts:
        entry["versions"] = {v: shown_record(entry["versions"][v]) for v in sorted(entry["versions"], key=version_key)}

    def human() -> None:
        if not experts:
            out.print("no experts installed (install one with `expert-cli install FILE.expert`)")
            return
        from rich.table import Table

        table = Table("name", "current", "versions", "signer", "source")
        for name, entry in experts:
            record = entry["versions"].get(entry.get("current"), {})
            current = (entry.get("current") or "-") + (" (pinned)" if entry.get("pinned") else "")
            signer = (record.get("signer") or "unsigned")[:16] + ("" if record.get("trusted") or not record.get("signer") else " (not trusted now)")
            table.add_row(esc(name), esc(current), esc(", ".join(entry["versions"])), esc(signer), esc(record.get("source", "")))
        out.table(table)
        out.print(f"[dim]{esc(CURRENT_RULE)}[/]")

    out.result({"experts": [{"name": name, **entry} for name, entry in experts]}, human)


def info(name: Annotated[str, typer.Argument(help="Expert name (NAME or NAME@VERSION).")], json_out: JsonOpt = False) -> None:
    from expertkit.registry.refs import parse_ref, resolve_ref
    from expertkit.registry.store import CURRENT_RULE, read_registry, shown_record
    from expertkit.registry.versions import version_key

    out = Output(json_out)

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
    def human() -> None:
        for key, value in payload.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else json.dumps(value) if isinstance(value, dict) else value
            out.print(f"[bold]{key:>18}[/] {esc(shown)}")

    out.result(payload, human)


def uninstall(
    target: Annotated[str, typer.Argument(help="NAME (every version) or NAME@VERSION.")],
    force: Annotated[bool, typer.Option("--force", help="Remove even when another installed expert requires it.")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.registry.uninstall import uninstall as do_uninstall

    out = Output(json_out)
    r = do_uninstall(target, force=force)
    out.warnings(r.warnings)
    rest = f"; current is now {r.current}" if r.current else ""
    out.result({"name": r.name, "removed": r.removed, "current": r.current, "warnings": r.warnings},
               lambda: out.print(f"[green]✓[/] removed {esc(r.name)} {esc(', '.join(r.removed))}{esc(rest)}"))


def update(
    name: Annotated[str, typer.Argument(help="Installed expert NAME (its current version) or NAME@VERSION.")],
    allow_unsigned: AllowUnsignedOpt = False,
    trust: TrustOpt = False,
    from_dir: FromOpt = None,
    force: ForceOpt = False,
    ignore_base_model: IgnoreBaseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.registry.install import Options
    from expertkit.registry.refs import parse_ref, resolve_ref
    from expertkit.registry.store import read_registry
    from expertkit.registry.update import update as do_update

    out = Output(json_out)
    _, record = resolve_ref(read_registry(), parse_ref(name))
    opts = Options(allow_unsigned=allow_unsigned or bool(record.get("allow_unsigned")), trust=trust, from_dir=from_dir,
                   reinstall=force, ignore_base_model=ignore_base_model)
    r = do_update(name, opts)
    warnings = r.install.warnings if r.install else []
    out.warnings(warnings)

    def human() -> None:
        if r.updated:
            out.print(f"[green]✓[/] updated {esc(name)} {esc(r.old_version)} -> {esc(r.new_version)}")
        else:
            out.print(f"{esc(name)} {esc(r.old_version)} is up to date (source offers {esc(r.new_version)})")

    out.result({"name": name, "updated": r.updated, "old_version": r.old_version, "new_version": r.new_version,
                "path": str(r.install.path) if r.install else None, "warnings": warnings}, human)
