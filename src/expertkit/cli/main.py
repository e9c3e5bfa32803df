"""The root `expert-cli` app: it only registers commands, each from its own module.

Command modules import torch/transformers (and rich) inside their functions, so `--help` and
`--version` stay fast. Errors and Ctrl-C are mapped once, by the root group (`cli.errors`).
"""

from __future__ import annotations

import sys

import typer

from expertkit import __version__
from expertkit.cli import (
    ask,
    chat,
    dataset,
    export,
    models,
    new,
    package,
    registry,
    route,
    schema,
    serve,
    signing,
    test,
    train,
    validate,
)
from expertkit.cli.errors import ExpertGroup, interrupted
from expertkit.cli.output import new_command
from expertkit.cli.warnings_filter import quiet_warnings

app = typer.Typer(
    name="expert-cli",
    cls=ExpertGroup,
    help="Build, test, package, sign and install small PEFT experts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help is plain text: `[@VERSION]` stays as written, lines wrap
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

# Order here is the order in `--help`.
COMMAND_MODULES = (new, validate, schema, models, dataset, train, test, package, signing, registry, ask, chat, route, serve, export)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"expert-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Build, test, package, sign and install small PEFT experts."""
    new_command()
    quiet_warnings()


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # before or after a command runs (the root group maps the rest)
        sys.exit(interrupted())


if __name__ == "__main__":
    main()
