"""The one output helper every command prints through, so they all behave alike.

- The answer goes to stdout: rich text for people, or (``--json``) one JSON document.
  Each kind of answer has one shape: an object; a collection is ``{"<things>": [ ... ]}``.
- Warnings always go to stderr as ``warning: <message>``, with or without ``--json``.
- Errors: see `expertkit.cli.errors` (under ``--json`` a JSON object on stdout).
- When stdout is not a terminal, lines and tables are never cut at 80 columns.
- Long steps show a live bar on a terminal and a plain line every few seconds when not one
  (``EXPERT_PROGRESS_SECONDS``, default 10; 0: only when a count starts and ends), so a log or
  CI job shows the run is alive.

rich is imported on first use only: ``--help`` and ``--version`` never pay for it.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_JSON_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar("expert_cli_json", default=False)
# set once a --json command has written its answer: a negative outcome after it (tests failed,
# exit 1) must not add a second JSON document to stdout, where machines expect exactly one
_RESULT_WRITTEN: contextvars.ContextVar[bool] = contextvars.ContextVar("expert_cli_result", default=False)
WIDE = 10_000  # width for a pipe or file: wrap nothing, cut nothing


def json_mode() -> bool:
    """Whether the running command was given ``--json`` (the error mapper reads it)."""
    return _JSON_MODE.get()


def result_written() -> bool:
    """Whether the running --json command has already written its answer to stdout."""
    return _RESULT_WRITTEN.get()


def new_command() -> None:
    """A command starts: text until it builds its Output (a second command in one process starts clean)."""
    _JSON_MODE.set(False)
    _RESULT_WRITTEN.set(False)


def _console(stderr: bool) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(file=stream, highlight=False, soft_wrap=not terminal, width=None if terminal else WIDE)


def dumps(payload: Any) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str)


class Output:
    """Where a command writes; build one per command with its ``--json`` flag."""

    def __init__(self, json_out: bool = False) -> None:
        self.json = json_out
        _JSON_MODE.set(json_out)
        self._out: Any = None
        self._err: Any = None

    @property
    def console(self) -> Any:
        if self._out is None:
            self._out = _console(stderr=False)
        return self._out

    @property
    def err(self) -> Any:
        if self._err is None:
            self._err = _console(stderr=True)
        return self._err

    def print(self, markup: str = "") -> None:
        """A line of human output (rich markup; escape user text with `esc`); nothing under --json."""
        if not self.json:
            self.console.print(markup)

    def table(self, table: Any) -> None:
        if not self.json:
            self.console.print(table)

    def result(self, payload: dict[str, Any], human: Callable[[], None] | None = None) -> None:
        """The command's answer: ``payload`` as JSON under --json, else ``human()``."""
        if self.json:
            sys.stdout.write(dumps(payload) + "\n")
            sys.stdout.flush()
            _RESULT_WRITTEN.set(True)
        elif human is not None:
            human()

    def warn(self, message: str) -> None:
        """`warning: <message>` on stderr, always."""
        self.err.print(f"[yellow]warning:[/] {esc(message)}")

    def warnings(self, messages: list[str]) -> None:
        for message in messages:
            self.warn(message)

    def note(self, message: str) -> None:
        """A side remark on stderr (not part of the answer)."""
        self.err.print(f"[dim]{esc(message)}[/]")

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """A step with no count (model loading): a spinner on a terminal, a start and an end line otherwise."""
        start = time.monotonic()
        if self.err.is_terminal:
            with self.err.status(esc(label) + "…"):
                yield
            return
        self.err.print(f"{esc(label)}…")
        yield
        self.err.print(f"{esc(label)}: done in {time.monotonic() - start:.1f} s")

    def progress(self, label: str) -> Progress:
        """Counted progress for a long step called ``label`` (e.g. "test")."""
        return Progress(self.err, label)


def esc(text: object) -> str:
    """User text inside rich markup (so `[@VERSION]` or `[red]` in a name print as written)."""
    from rich.markup import escape

    return escape(str(text))


def quote(path: object) -> str:
    """A path as the user would type it in a shell (quoted when it has spaces or quotes)."""
    import shlex

    return shlex.quote(str(path))


def progress_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("EXPERT_PROGRESS_SECONDS", "10")))
    except ValueError:
        return 10.0


class Progress:
    """Counted progress (``update(done, total, label)``) on stderr, one task per label.

    On a terminal: a transient rich bar. Otherwise: a plain line when a label starts and ends, and
    every `progress_interval` seconds in between even when no update came (a batch of generations
    can take minutes), so a log shows the run is alive.
    """

    def __init__(self, console: Any, label: str) -> None:
        self.console = console
        self.label = label
        self.started = time.monotonic()
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self.state: dict[str, tuple[int, int]] = {}  # label -> (done, total)
        self.interval = progress_interval()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           console=self.console, transient=True)
            self.bar.start()
        elif self.interval > 0:  # no "starting" line: a quick failure stays one line (+ hint)
            self._ticker = threading.Thread(target=self._tick, name="expert-cli-progress", daemon=True)
            self._ticker.start()
        return self

    def update(self, done: int, total: int, label: str) -> None:
        if self.bar is not None:
            if label not in self.tasks:
                self.tasks[label] = self.bar.add_task(label, total=total)
            self.bar.update(self.tasks[label], completed=done, total=total)
            if done >= total:  # a new suite (next checkpoint) starts fresh tasks
                self.bar.remove_task(self.tasks.pop(label))
            return
        with self._lock:
            first = label not in self.state
            self.state[label] = (done, total)
            if first or done >= total:
                self._line(label)
            if done >= total:
                del self.state[label]

    def _line(self, label: str) -> None:
        done, total = self.state[label]
        self.console.print(f"{esc(label)}: {done}/{total} ({time.monotonic() - self.started:.0f} s)")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                for label in self.state:
                    self._line(label)
                if not self.state:  # loading the model, or between two suites
                    self.console.print(f"{esc(self.label)}: working ({time.monotonic() - self.started:.0f} s)")

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self.stop()
