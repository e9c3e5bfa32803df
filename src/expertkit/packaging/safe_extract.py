"""Read untrusted tar.gz bytes member by member, checking everything ourselves.

Python's `tarfile` extraction filters (`filter="data"`) have been bypassed more than once
(CVE-2025-4517 and later), so nothing here calls `extract*`: each header is checked before its
data is read, only regular files and directories are accepted, and files are later written by
`write_members` from validated names under a fresh temp dir, never following a link.

Refused: absolute or drive names, `..`/`.`/empty components, backslashes and control
characters, symlinks, hard links, devices, FIFOs, sparse and other special members, duplicate
names (also case-insensitive ones, and a file used as a directory), too many members, a member
over the size cap, a total over the cap, and a decompressed/compressed ratio over the cap.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from expertkit.errors import PackageError

_ACCEPTED = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir"}


@dataclass(frozen=True)
class Limits:
    """Caps for reading one package; the defaults fit adapters of small base models with room."""

    max_members: int = 1000
    max_member_bytes: int = 2 * 1024**3
    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0  # decompressed / compressed
    ratio_floor_bytes: int = 1024**2  # tiny text-only archives may compress well; don't flag them
    max_name_length: int = 255


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Member:
    name: str
    kind: str  # "file" | "dir"
    data: bytes = b""


def check_name(name: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """The member name normalised (trailing `/` of directories dropped), or PackageError."""
    bad = f"unsafe member name {name!r}"
    if not name or len(name) > limits.max_name_length:
        raise PackageError(f"{bad}: empty or longer than {limits.max_name_length} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or "\\" in name:
        raise PackageError(f"{bad}: control character or backslash")
    if name.startswith("/") or ":" in name:  # `:` also covers Windows drives (C:) and streams
        raise PackageError(f"{bad}: absolute path or drive")
    stripped = name[:-1] if name.endswith("/") else name
    parts = stripped.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PackageError(f"{bad}: empty, `.` or `..` path component")
    return stripped


def _check_type(info: tarfile.TarInfo) -> str:
    kind = _ACCEPTED.get(info.type)
    if kind is None:
        what = ("symlink" if info.issym() else "hard link" if info.islnk() else "device" if info.isdev()
                else "FIFO" if info.isfifo() else "sparse file" if info.issparse() else f"type {info.type!r}")
        raise PackageError(f"refused member {info.name!r}: {what} (only regular files and directories are allowed)")
    return kind


class _Seen:
    """Duplicate and file/dir conflict detection, case-insensitively (for case-insensitive disks)."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}

    def add(self, name: str, kind: str) -> None:
        key = name.casefold()
        if key in self.kinds:
            raise PackageError(f"refused member {name!r}: duplicate name in the archive")
        parts = key.split("/")
        for i in range(1, len(parts)):
            if self.kinds.get("/".join(parts[:i])) == "file":
                raise PackageError(f"refused member {name!r}: its parent is a file in the archive")
        if kind == "file" and any(k.startswith(key + "/") for k in self.kinds):
            raise PackageError(f"refused member {name!r}: a file with the name of a directory in the archive")
        self.kinds[key] = kind


def read_members(archive: bytes, limits: Limits = DEFAULT_LIMITS) -> list[Member]:
    """Every member of the gzip'd tar ``archive``, checked; raises PackageError on the first problem."""
    members: list[Member] = []
    seen, total = _Seen(), 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r|gz") as tar:
            for info in tar:
                if len(members) >= limits.max_members:
                    raise PackageError(f"refused archive: more than {limits.max_members} members")
                name = check_name(info.name, limits)
                kind = _check_type(info)
                if info.size > limits.max_member_bytes:
                    raise PackageError(f"refused member {name!r}: {info.size} bytes is over the {limits.max_member_bytes}-byte cap")
                total += info.size
                if total > limits.max_total_bytes:
                    raise PackageError(f"refused archive: more than {limits.max_total_bytes} bytes uncompressed")
                if total > limits.ratio_floor_bytes and total > limits.max_ratio * max(len(archive), 1):
                    raise PackageError(f"refused archive: compression ratio over {limits.max_ratio:g} (a decompression bomb?)")
                seen.add(name, kind)
                data = b""
                if kind == "file":
                    stream = tar.extractfile(info)
                    data = stream.read() if stream is not None else b""
                    if len(data) != info.size:
                        raise PackageError(f"refused member {name!r}: truncated")
                members.append(Member(name, kind, data))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise PackageError(f"not a readable .expert archive (gzip'd tar): {exc}") from None
    return members


def _write_file(root: Path, name: str, data: bytes) -> None:
    target = root.joinpath(*name.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL + O_NOFOLLOW: never reuse or follow anything already there
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_members(members: list[Member], dest: str | Path, *, replace: bool = False) -> Path:
    """Write checked members into a new temp dir beside ``dest``, then rename it to ``dest``.

    ``dest`` must not exist unless ``replace`` (the old tree is then swapped out and removed).
    """
    import shutil

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and not replace:
        raise PackageError(f"{dest} already exists", hint="remove it first, or pass --force")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; an installed expert is readable like any file
        for m in members:
            name = check_name(m.name)  # re-checked: callers may build Member lists themselves
            if m.kind == "dir":
                tmp.joinpath(*name.split("/")).mkdir(parents=True, exist_ok=True)
            elif m.kind == "file":
                _write_file(tmp, name, m.data)
            else:
                raise PackageError(f"refused member {name!r}: kind {m.kind!r}")
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / "tree")
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
