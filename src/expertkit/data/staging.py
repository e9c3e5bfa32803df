"""A prepared dataset is one set: its splits, its side files and the manifest's record change together.

`Staging` writes every file to a temp file beside its target first; `commit` then renames them
all into place and runs the manifest update with Ctrl-C deferred, so an interrupted run leaves
the old set whole (only temp files are removed) and never train from one run with test from
another. The manifest records each split's sha256 (`preprocessing.split_sha256`), so a set that
was mixed anyway (a crash mid-rename, a hand edit, an old expertkit) is detected later by
`check_set`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DIGESTS_KEY = "split_sha256"


class Staging:
    """Files written beside their targets under temp names, renamed into place only by `commit`."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def write_jsonl(self, target: Path, rows: list[Any]) -> str:
        """Stage ``rows`` for ``target``; returns the sha256 of what will be there."""
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".staged", dir=target.parent)
        self._pending.append((Path(tmp), target))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        return hashlib.sha256(data).hexdigest()

    def commit(self, then: Callable[[], None] | None = None) -> None:
        """Rename every staged file into place, then run ``then`` (the manifest update), Ctrl-C deferred."""
        with _interrupts_deferred():
            for tmp, target in self._pending:
                os.replace(tmp, target)
            self._pending.clear()
            if then is not None:
                then()

    def discard(self) -> None:
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        self._pending.clear()


@contextmanager
def staging() -> Iterator[Staging]:
    """A `Staging` whose uncommitted files are removed when the block fails or is interrupted."""
    stage = Staging()
    try:
        yield stage
    finally:
        stage.discard()


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def check_set(recorded: dict[str, str] | None, paths: dict[str, Path | None]) -> list[str]:
    """Splits whose file no longer matches what the last `dataset prepare` recorded (empty: one set)."""
    if not recorded:
        return []
    out = []
    for name, path in paths.items():
        want = recorded.get(name)
        if want is None or path is None:
            continue
        got = file_sha256(path)
        if got != want:
            state = "is missing" if got is None else "differs from what the last prepare wrote"
            out.append(f"{name} split {path.name} {state}: the splits may come from different runs "
                       "(train/test overlap); run `expert-cli dataset prepare` again")
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT until the block is done (renames take microseconds); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(*caught[0])


def check_prepared(loaded: Any) -> list[str]:
    """`check_set` for a loaded manifest: its recorded split digests against the split files."""
    ds = loaded.model.training.dataset
    recorded = (ds.preprocessing or {}).get(DIGESTS_KEY)
    paths = {"train": ds.path, "validation": ds.validation_path, "test": ds.test_path}
    resolved = {name: (loaded.resolve(p) if p else None) for name, p in paths.items()}
    return check_set(recorded if isinstance(recorded, dict) else None, resolved)
