"""`$EXPERT_HOME/models/index.json`: which model names exist, where they live, and cached digests.

Layout (version 1)::

    {"version": 1,
     "models": {"<name>": {"path": ..., "source": "alias"|"imported", "kind": "converted"|"referenced"|"copied",
                           "origin": ..., "architecture": ..., "parameters": ..., "sha256": ..., "created": ...}},
     "file_digests": {"<real path of a weights file>": {"size": ..., "mtime_ns": ..., "sha256": ...}}}

Every read-modify-write holds a file lock beside the index, so two processes (a test run and a
CLI call, or two parallel conversions) never lose each other's entries. Writes are atomic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from expertkit.atomic import write_json
from expertkit.errors import EnvironmentProblem
from expertkit.home import models_dir

INDEX_VERSION = 1


def index_path() -> Path:
    return models_dir() / "index.json"


def _empty() -> dict[str, Any]:
    return {"version": INDEX_VERSION, "models": {}, "file_digests": {}}


def read_index() -> dict[str, Any]:
    """The index as a dict (an empty one when the file does not exist yet)."""
    path = index_path()
    if not path.is_file():
        return _empty()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EnvironmentProblem(
            f"{path}: unreadable model index ({exc})",
            hint="fix or delete the file, then re-run `expert-cli models prepare` / `models import`",
        ) from exc
    if not isinstance(data, dict):
        raise EnvironmentProblem(f"{path}: model index is not a JSON object", hint="delete the file and re-import your models")
    base = _empty()
    base.update(data)
    return base


@contextmanager
def lock(name: str = "index"):
    """An inter-process lock named ``name`` inside the models dir."""
    from filelock import FileLock

    models_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir() / f".{name}.lock")):
        yield


def update_index(edit: Callable[[dict[str, Any]], Any]) -> Any:
    """Read the index under the lock, let ``edit`` mutate it, write it back atomically."""
    with lock("index"):
        data = read_index()
        result = edit(data)
        write_json(index_path(), data)
        return result


def model_entry(name: str) -> dict[str, Any] | None:
    return read_index()["models"].get(name)
