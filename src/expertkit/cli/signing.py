"""`expert-cli keygen | sign | verify | trust add|list|remove`: Ed25519 signing and trust."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.errors import WrappingGroup
from expertkit.cli.options import JsonOpt
from expertkit.cli.output import Output, esc, quote

trust_app = typer.Typer(cls=WrappingGroup, help="Manage the public keys whose signatures install without --trust.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("keygen", help="Create an Ed25519 signing key pair (private key 0600 + NAME.pub).")(keygen)
    app.command("sign", help="Sign a .expert package and write its .sha256 sidecar.")(sign)
    app.command("verify", help="Check a package's sidecar, digests, members, signature and signer. Exit 1 if any fails.")(verify)
    app.add_typer(trust_app, name="trust")


def keygen(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Private key path (default: $EXPERT_HOME/keys/default).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
    no_trust: Annotated[bool, typer.Option("--no-trust", help="Don't trust the new key on this machine.")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.packaging.trust import create_key

    out = Output(json_out)
    pair, trusted = create_key(output, force=force, trust=not no_trust)

    def human() -> None:
        out.print(f"[green]✓[/] private key {esc(pair.private_path)} (mode 0600)")
        out.print(f"  public key  {esc(pair.public_path)}")
        out.print(f"  key id      {pair.key_id}")
        if trusted:
            out.print(f"  trusted here ({esc(trusted.path)}): packages you sign verify and install on this machine")
        out.print(f"  share the public key; others trust it with `expert-cli trust add {esc(quote(pair.public_path.name))}`")

    out.result({"private_key": str(pair.private_path), "public_key": str(pair.public_path), "key_id": pair.key_id}, human)


def sign(
    file: Annotated[Path | None, typer.Argument(help="The .expert file to sign (rewritten in place); or use --expert.")] = None,
    expert: Annotated[Path | None, typer.Option("--expert", "-e", help="The .expert file to sign (same as the argument).")] = None,
    key: Annotated[Path | None, typer.Option("--key", "-k", help="Private key (default: $EXPERT_HOME/keys/default).")] = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.errors import UsageError
    from expertkit.packaging.signing import sign_package

    out = Output(json_out)
    if (file is None) == (expert is None) and file != expert:
        raise UsageError("give the .expert file once: `sign FILE` or `sign --expert FILE`")
    if file is None and expert is None:
        raise UsageError("missing the .expert file to sign", hint="expert-cli sign FILE.expert (or --expert FILE.expert)")
    result = sign_package(file or expert, key)

    def human() -> None:
        note = " (replaced the previous signature)" if result.replaced else ""
        out.print(f"[green]✓[/] signed {esc(result.path)} with key {result.key_id[:16]}{note}")
        out.print(f"  sha256 {result.sha256}  -> {esc(result.sidecar)}")

    out.result({"path": str(result.path), "sha256": result.sha256, "sidecar": str(result.sidecar), "key_id": result.key_id,
                "replaced": result.replaced}, human)


def verify(
    expert: Annotated[Path, typer.Argument(help="The .expert file.")],
    pubkey: Annotated[Path | None, typer.Option("--pubkey", help="Require this signer (instead of the trusted-keys store).")] = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.packaging.keys import load_public_key
    from expertkit.packaging.verify import verify_package

    out = Output(json_out)
    report = verify_package(expert, pubkey=load_public_key(pubkey) if pubkey else None)

    def human() -> None:
        marks = {"ok": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[dim]-[/]"}
        for check in report.checks:
            out.print(f"{marks[check.status]} {check.name:<10} {esc(check.detail)}")
        verdict = "[green]verified[/]" if report.ok else f"[red]NOT verified[/]: {esc(report.summary())}"
        out.print(f"{esc(expert)}: {verdict}")

    out.result(report.to_dict(), human)
    if not report.ok:
        raise typer.Exit(1)


def _key(k) -> dict:
    return {"key_id": k.key_id, "path": str(k.path)}


@trust_app.command("add", help="Trust a public key file.")
def trust_add(pubkey_file: Annotated[Path, typer.Argument(help="PEM public key (e.g. keys/default.pub).")],
              json_out: JsonOpt = False) -> None:
    from expertkit.packaging.trust import add_trusted_file

    out = Output(json_out)
    key = add_trusted_file(pubkey_file)
    out.result({"keys": [_key(key)]}, lambda: out.print(f"[green]✓[/] trusted {key.key_id[:16]} -> {esc(key.path)}"))


@trust_app.command("list", help="List trusted keys.")
def trust_list(json_out: JsonOpt = False) -> None:
    from expertkit.packaging.trust import list_trusted

    out = Output(json_out)
    keys = list_trusted()

    def human() -> None:
        if not keys:
            out.print("no trusted keys (add one with `expert-cli trust add KEY.pub`)")
        for k in keys:
            out.print(f"{k.key_id[:16]}  {esc(k.path)}")

    out.result({"keys": [_key(k) for k in keys]}, human)


@trust_app.command("remove", help="Stop trusting a key (by public key file or key id).")
def trust_remove(pubkey_file: Annotated[str, typer.Argument(help="PEM public key file, or a key id prefix (8+ hex).")],
                 json_out: JsonOpt = False) -> None:
    from expertkit.packaging.trust import remove_trusted

    out = Output(json_out)
    removed = remove_trusted(pubkey_file)

    def human() -> None:
        for k in removed:
            out.print(f"[green]✓[/] removed {k.key_id[:16]} ({esc(k.path.name)})")

    out.result({"keys": [_key(k) for k in removed]}, human)
