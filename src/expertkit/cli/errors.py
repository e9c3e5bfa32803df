"""The one place library errors become messages and exit codes.

A user error prints one line (`error: <what>`, then `  hint: <next step>` when there is one)
and exits with the error's code; `EXPERT_DEBUG=1` re-raises so the traceback shows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from expertkit.errors import ExpertError

F = TypeVar("F", bound=Callable[..., Any])
INTERRUPTED = 130


def debug_enabled() -> bool:
    return os.environ.get("EXPERT_DEBUG", "") not in ("", "0", "false")


def report(exc: ExpertError) -> int:
    """Print ``exc`` as one line (plus its hint) on stderr; return its exit code."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        console.print(f"  [dim]hint:[/] {escape(exc.hint)}")
    return exc.exit_code


def handle_errors(func: F) -> F:
    """Wrap a command: ExpertError -> message + exit code; Ctrl-C -> 130; the rest -> one line too."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ExpertError as exc:
            if debug_enabled():
                raise
            sys.exit(report(exc))
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            print("interrupted", file=sys.stderr)
            sys.exit(INTERRUPTED)
        except OSError as exc:
            # disk full, permission denied, missing file we didn't anticipate: still one line
            if debug_enabled():
                raise
            name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            sys.exit(report(ExpertError(f"{exc.strerror or exc}{':' + name if name else ''}", hint="set EXPERT_DEBUG=1 for a traceback")) or 2)

    return wrapper  # type: ignore[return-value]
