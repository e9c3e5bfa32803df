"""The root `expert-cli` app: it only registers commands, each from its own module.

Command modules import torch/transformers inside their functions, so `--help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from expertkit import __version__

app = typer.Typer(
    name="expert-cli",
    help="Build, test, package, sign and install small PEFT experts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module defines `register(app)`. Order here is the order in `--help`.
COMMAND_MODULES = [
    "new",
    "validate",
    "schema",
    "models",
    "dataset",
    "train",
    "test",
    "package",
    "signing",
    "registry",
    "ask",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"expert-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Build, test, package, sign and install small PEFT experts."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"expertkit.cli.{name}").register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
