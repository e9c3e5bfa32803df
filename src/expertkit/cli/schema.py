"""`expert-cli schema`: print the manifest's JSON Schema."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    app.command("schema", help="Print the manifest JSON Schema (draft 2020-12).")(schema)


def schema() -> None:
    from expertkit.manifest.schema import manifest_json_schema

    typer.echo(json.dumps(manifest_json_schema(), indent=2))
