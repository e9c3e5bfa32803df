"""`expert-cli package`: build a deterministic `.expert` file from a trained adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt, ManifestOpt, ModelOpt
from expertkit.cli.output import Output, esc, quote


def register(app: typer.Typer) -> None:
    app.command("package", help="Package the adapter, manifest and docs into a deterministic .expert file.")(package)


def package(
    manifest: ManifestOpt = Path("manifest.json"),
    weights: Annotated[Path | None, typer.Option("--weights", help="Adapter dir (default: training.packaging_checkpoint, else weights/<model>/final).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (default: weights/<name>-<model>.v<version>.expert).")] = None,
    model: ModelOpt = None,
    include_tests: Annotated[bool, typer.Option("--include-tests", help="Add tests/test_cases.json to the package.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a signed package at the output path (sign it again after).")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.packaging.build import build_package

    out = Output(json_out)
    result = build_package(manifest, weights=weights, output=output, model=model, include_tests=include_tests, force=force)
    out.warnings(result.warnings)
    payload = {"path": str(result.path), "sha256": result.sha256, "size_bytes": result.size_bytes,
               "base_model": result.base_model, "members": result.members, "warnings": result.warnings,
               "adapter": {"type": result.adapter.type, "sha256": result.adapter.sha256, "size_bytes": result.adapter.size_bytes,
                           "checkpoint_step": result.adapter.checkpoint_step, "path": str(result.adapter.directory)}}

    def human() -> None:
        for name, size in result.members.items():
            out.print(f"  {size:>12,}  {esc(name)}")
        out.print(f"[green]✓[/] {esc(result.path)} ({result.size_bytes:,} bytes)")
        out.print(f"  sha256 {result.sha256}")
        out.print(f"  manifest updated: adapters[0] and training.packaging_checkpoint -> {esc(result.adapter.directory)}")
        out.print(f"  next: expert-cli sign --expert {esc(quote(result.path))}")

    out.result(payload, human)
