"""The canonical member-digest list (the `DIGESTS` member) and sha256 helpers.

DIGESTS is `sha256sum` text: one line `"<sha256>  <member name>\\n"` per member, sorted by the
member name's UTF-8 bytes, covering every member except DIGESTS and SIGNATURE themselves. The
signature is made over these exact bytes, so any added, removed or changed member breaks it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from expertkit.errors import IntegrityError

DIGESTS_NAME = "DIGESTS"
SIGNATURE_NAME = "SIGNATURE"
UNDIGESTED = frozenset({DIGESTS_NAME, SIGNATURE_NAME})
_LINE = re.compile(r"^([0-9a-f]{64})  (\S.*)$")
_CHUNK = 1024 * 1024


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sort_key(name: str) -> bytes:
    """Byte-wise order, the same on every platform and locale."""
    return name.encode("utf-8")


def render_digests(members: Mapping[str, bytes]) -> bytes:
    """DIGESTS text for ``members`` (name -> content); DIGESTS/SIGNATURE entries are skipped."""
    names = sorted((n for n in members if n not in UNDIGESTED), key=sort_key)
    return "".join(f"{sha256_bytes(members[n])}  {n}\n" for n in names).encode("utf-8")


def parse_digests(data: bytes) -> dict[str, str]:
    """name -> sha256 from DIGESTS bytes; an IntegrityError names the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError("digests: DIGESTS is not UTF-8 text") from None
    if text and not text.endswith("\n"):
        raise IntegrityError("digests: DIGESTS does not end with a newline (not canonical)")
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if not match:
            raise IntegrityError(f"digests: DIGESTS line {number} is not `<sha256>  <name>`: {line[:80]!r}")
        digest, name = match.groups()
        if name in out or name in UNDIGESTED:
            raise IntegrityError(f"digests: DIGESTS line {number} lists {name!r} twice or lists a reserved name")
        out[name] = digest
    if list(out) != sorted(out, key=sort_key):
        raise IntegrityError("digests: DIGESTS lines are not sorted (not canonical)")
    return out


def sidecar_text(digest: str, file_name: str) -> str:
    """One `sha256sum` line, so `sha256sum -c x.expert.sha256` passes beside the file."""
    return f"{digest}  {file_name}\n"


def parse_sidecar(text: str) -> tuple[str, str]:
    """(sha256, file name) from a `.sha256` sidecar; accepts sha256sum's binary marker `*`."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    match = re.match(r"^([0-9a-fA-F]{64}) [ *](.+)$", line)
    if not match:
        raise IntegrityError(f"sidecar: not in sha256sum format: {line[:80]!r}")
    return match.group(1).lower(), match.group(2)
