"""Write a deterministic gzip'd tar: the same members give the same bytes, every time.

Why each choice: members are sorted by name bytes; parent directories get explicit entries;
every mtime is 0 (in the tar headers and in the gzip header), owners are uid/gid 0 with empty
user/group names, files are 0644 and directories 0755, and the gzip header carries no file
name. Nothing from the machine or the clock leaks into the archive.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

from expertkit import atomic
from expertkit.packaging.digests import sort_key

FILE_MODE = 0o644
DIR_MODE = 0o755
GZIP_LEVEL = 9


def _info(name: str, *, size: int = 0, is_dir: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.size = 0 if is_dir else size
    info.mode = DIR_MODE if is_dir else FILE_MODE
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _parent_dirs(names: list[str]) -> list[str]:
    dirs = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return list(dirs)


def archive_bytes(members: Mapping[str, bytes]) -> bytes:
    """The gzip'd tar of ``members`` (name -> content), byte-identical for equal input."""
    entries = [(name, False) for name in members] + [(d, True) for d in _parent_dirs(list(members))]
    entries.sort(key=lambda e: sort_key(e[0]))
    raw = io.BytesIO()
    # PAX only adds extended headers when a name needs them (long / non-ASCII), deterministically
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, is_dir in entries:
            if is_dir:
                tar.addfile(_info(name, is_dir=True))
            else:
                data = members[name]
                tar.addfile(_info(name, size=len(data)), io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_archive(path: str | Path, members: Mapping[str, bytes], *, mode: int = FILE_MODE) -> bytes:
    """Write the archive atomically to ``path`` (file mode ``mode``); returns its bytes."""
    data = archive_bytes(members)
    atomic.write_bytes(path, data, mode=mode)
    return data
