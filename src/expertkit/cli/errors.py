"""The one place library errors become messages and exit codes: the root command group.

A user error prints one line (`error: <what>`, then `  hint: <next step>` when there is one) on
stderr and exits with the error's code; under ``--json`` it is one JSON object on stdout instead
(``{"error": {"message", "hint", "type", "param", "exit_code"}}``). Ctrl-C anywhere prints
`interrupted` and exits 130. `EXPERT_DEBUG=1` re-raises so the traceback shows.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from expertkit.cli.output import Output, dumps, esc, json_mode, result_written
from expertkit.errors import ExpertError

INTERRUPTED = 130


def debug_enabled() -> bool:
    return os.environ.get("EXPERT_DEBUG", "") not in ("", "0", "false")


def flag(param: str) -> str:
    """How the CLI spells a library parameter name (ExpertError.param): soft_prompt -> --soft-prompt."""
    return "--" + param.replace("_", "-")


def report(exc: ExpertError) -> int:
    """Print ``exc`` (one line plus its hint; JSON under --json); return its exit code.

    Under --json, after the command already wrote its answer (e.g. `test` whose cases failed),
    stdout keeps that one document and the line goes to stderr."""
    message = f"{flag(exc.param)}: {exc.message}" if exc.param else exc.message
    if json_mode() and not result_written():
        error = {"message": message, "hint": exc.hint, "type": type(exc).__name__, "param": exc.param, "exit_code": exc.exit_code}
        sys.stdout.write(dumps({"error": error}) + "\n")
        sys.stdout.flush()
        return exc.exit_code
    console = Output().err
    console.print(f"[bold red]error:[/] {esc(message)}")
    if exc.hint:
        console.print(f"  [dim]hint:[/] {esc(exc.hint)}")
    return exc.exit_code


def interrupted() -> int:
    print("interrupted", file=sys.stderr)
    return INTERRUPTED


def _os_error(exc: OSError) -> ExpertError:
    """Disk full, permission denied, a file we didn't anticipate: still one line."""
    name = f": {exc.filename}" if getattr(exc, "filename", None) else ""
    return ExpertError(f"{exc.strerror or exc}{name}", hint="set EXPERT_DEBUG=1 for a traceback")


class WrappingGroup(TyperGroup):
    """A command group whose help lists each command's whole first sentence, wrapped, not cut at "..."."""

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class ExpertGroup(WrappingGroup):
    """The root group: every command (and sub-group) runs inside this one translation."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ExpertError as exc:
            if debug_enabled():
                raise
            ctx.exit(report(exc))
        except (KeyboardInterrupt, typer.Abort):
            if debug_enabled():
                raise
            ctx.exit(interrupted())
        except OSError as exc:
            if debug_enabled():
                raise
            ctx.exit(report(_os_error(exc)))
