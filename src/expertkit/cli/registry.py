"""`expert-cli install | list | info | uninstall | update`: the local expert registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt
from expertkit.cli.output import Output, esc

AllowUnsignedOpt = Annotated[bool, typer.Option("--allow-unsigned", help="Install a package that has no signature.")]
TrustOpt = Annotated[bool, typer.Option("--trust", help="Accept (and remember) a signer that is not trusted yet.")]
FromOpt = Annotated[Path | None, typer.Option("--from", help="Folder of .expert files that can satisfy `requires`.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Reinstall an installed version; install despite a base-model mismatch.")]


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
    json_out: JsonOpt = False,
) -> None:
    from expertkit.registry.install import Options
    from expertkit.registry.install import install as do_install

    out = Output(json_out)
    r = do_install(source, Options(allow_unsigned=allow_unsigned, trust=trust, from_dir=from_dir, force=force))
    out.warnings(r.warnings)

    def human() -> None:
        for dep in r.dependencies:
            out.print(f"[green]✓[/] installed dependency {esc(dep)}")
        signer = f"signed by {r.signer[:16]}" if r.signer else "unsigned"
        out.print(f"[green]✓[/] installed {esc(r.name)} {esc(r.version)} -> {esc(r.path)} ({signer})")

    out.result({"name": r.name, "version": r.version, "path": str(r.path), "signer": r.signer,
                "trusted": r.trusted, "dependencies": r.dependencies, "warnings": r.warnings}, human)


def list_experts(json_out: JsonOpt = False) -> None:
    from expertkit.registry.store import read_registry
    from expertkit.registry.versions import version_key

    out = Output(json_out)
    experts = sorted(read_registry()["experts"].items())

    def human() -> None:
        if not experts:
            out.print("no experts installed (install one with `expert-cli install FILE.expert`)")
            return
        from rich.table import Table

        table = Table("name", "current", "versions", "signer", "source")
        for name, entry in experts:
            record = entry["versions"].get(entry.get("current"), {})
            versions = ", ".join(sorted(entry["versions"], key=version_key))
            table.add_row(esc(name), entry.get("current") or "-", versions, (record.get("signer") or "unsigned")[:16],
                          esc(record.get("source", "")))
        out.table(table)

    out.result({"experts": [{"name": name, **entry} for name, entry in experts]}, human)


def info(name: Annotated[str, typer.Argument(help="Expert name (NAME or NAME@VERSION).")], json_out: JsonOpt = False) -> None:
    out = Output(json_out)
    from expertkit.errors import RegistryError
    from expertkit.registry.store import current_record, get_expert, read_registry
    from expertkit.registry.uninstall import parse_target

    data = read_registry()
    wanted, version = parse_target(name)
    if version:
        record = get_expert(data, wanted)["versions"].get(version)
        if record is None:
            raise RegistryError(f"{wanted} {version} is not installed")
    else:
        version, record = current_record(data, wanted)
    manifest_path = Path(record["path"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    payload = {"name": wanted, "version": version, "current": data["experts"][wanted].get("current"),
               "versions": sorted(data["experts"][wanted]["versions"]), **record,
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
    name: Annotated[str, typer.Argument(help="Installed expert name.")],
    allow_unsigned: AllowUnsignedOpt = False,
    trust: TrustOpt = False,
    from_dir: FromOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.registry.install import Options
    from expertkit.registry.store import current_record, read_registry
    from expertkit.registry.update import update as do_update

    out = Output(json_out)
    _, record = current_record(read_registry(), name)
    opts = Options(allow_unsigned=allow_unsigned or bool(record.get("allow_unsigned")), trust=trust, from_dir=from_dir, force=force)
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
