"""The export's output directory: built beside its target and renamed into place at the end,
so an interrupted export leaves nothing half-written where the user looks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from expertkit.errors import UsageError


def check_empty(output: Path) -> None:
    """UsageError (param ``output``) when ``output`` is a file or a non-empty directory."""
    if output.is_file() or (output.is_dir() and any(output.iterdir())):
        raise UsageError(f"{output} exists and is not empty", param="output",
                         hint="name a new or empty directory (nothing in it is overwritten)")


@contextmanager
def staged(output: Path) -> Iterator[Path]:
    """A temp directory beside ``output``; on success it becomes ``output``."""
    output = output.expanduser().absolute()
    check_empty(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    try:
        yield tmp
        check_empty(output)  # nobody filled it meanwhile
        if output.is_dir():
            output.rmdir()
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
