"""A corpus of malicious archives, built here: each is refused and nothing lands outside the target."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from expertkit.errors import PackageError
from expertkit.packaging.reader import open_package
from expertkit.packaging.safe_extract import Limits, Member, read_members, write_members
from expertkit.packaging.verify import extract_package

EVIL = f"evil-{uuid.uuid4().hex[:8]}"


def _file(name: str, data: bytes = b"pwned", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _special(name: str, kind: bytes, **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, b""


def build(entries, *, fmt=tarfile.GNU_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return gzip.compress(raw.getvalue(), mtime=0)


def _pax(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info, data = _file("harmless.txt")
    info.pax_headers = {"path": name}
    return info, data


ATTACKS = {
    "absolute": lambda: build([_file(f"/tmp/{EVIL}")]),
    "dotdot": lambda: build([_file(f"../{EVIL}")]),
    "nested dotdot": lambda: build([_file(f"a/../../{EVIL}")]),
    "dot component": lambda: build([_file(f"./{EVIL}")]),
    "backslash": lambda: build([_file(f"..\\{EVIL}")]),
    "drive letter": lambda: build([_file(f"C:{EVIL}")]),
    "pax path override": lambda: build([_pax(f"../{EVIL}")], fmt=tarfile.PAX_FORMAT),
    "symlink": lambda: build([_special("link", tarfile.SYMTYPE, linkname="/tmp"), _file(f"link/{EVIL}")]),
    "symlink alone": lambda: build([_special("manifest.json", tarfile.SYMTYPE, linkname="/etc/passwd")]),
    "hard link": lambda: build([_special(EVIL, tarfile.LNKTYPE, linkname="/etc/passwd")]),
    "char device": lambda: build([_special(EVIL, tarfile.CHRTYPE, devmajor=1, devminor=3)]),
    "block device": lambda: build([_special(EVIL, tarfile.BLKTYPE, devmajor=8, devminor=0)]),
    "fifo": lambda: build([_special(EVIL, tarfile.FIFOTYPE)]),
    "contiguous file": lambda: build([_special(EVIL, tarfile.CONTTYPE)]),
    "duplicate": lambda: build([_file("manifest.json", b"{}"), _file("manifest.json", b"{}")]),
    "case duplicate": lambda: build([_file("README.md"), _file("readme.md")]),
    "file as parent": lambda: build([_file("a"), _file(f"a/{EVIL}")]),
    "dir then file same name": lambda: build([_special("d", tarfile.DIRTYPE), _file("d")]),
    "too many members": lambda: build([_file(f"f{i}", b"x") for i in range(1001)]),
    "decompression bomb": lambda: build([_file("zeros.bin.txt", b"\0" * (60 * 1024**2))]),
    "not gzip": lambda: b"PK\x03\x04 this is a zip, not a tar.gz",
    "truncated": lambda: build([_file("big", os.urandom(100_000))])[:2000],
    "pickle member": lambda: build([_file("adapter_model.bin", b"\x80\x04")]),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_malicious_archive_refused_and_nothing_escapes(attack, tmp_path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    archive = sandbox / "bad.expert"
    archive.write_bytes(ATTACKS[attack]())
    with pytest.raises(PackageError):
        open_package(archive)
    target = sandbox / "out" / "target"
    with pytest.raises(PackageError):
        extract_package(archive, target, verify=False)
    # nothing was written: not the target, not beside it, not anywhere the names point to
    left = sorted(p.relative_to(sandbox).as_posix() for p in sandbox.rglob("*"))
    assert left in (["bad.expert"], ["bad.expert", "out"])  # `out` is the (empty) parent made for the target
    assert not list(tmp_path.rglob(f"*{EVIL}*"))
    assert not list(tmp_path.parent.glob(f"*{EVIL}*")) and not Path("/tmp", EVIL).exists()


def test_member_over_size_cap():
    data = build([_file("adapter_model.safetensors", b"z" * 5000)])
    with pytest.raises(PackageError, match="cap"):
        read_members(data, Limits(max_member_bytes=4096))
    with pytest.raises(PackageError, match="uncompressed"):
        read_members(build([_file("a", b"z" * 3000), _file("b", b"z" * 3000)]), Limits(max_total_bytes=5000))


def test_write_members_rechecks_names(tmp_path):
    with pytest.raises(PackageError):
        write_members([Member(f"../{EVIL}", "file", b"x")], tmp_path / "t")
    assert not (tmp_path / EVIL).exists() and not (tmp_path / "t").exists()


def test_extract_never_overwrites_an_existing_target(tmp_path):
    archive = tmp_path / "ok.expert"
    archive.write_bytes(build([_file("README.md", b"hi")]))
    (tmp_path / "t").mkdir()
    with pytest.raises(PackageError, match="already exists"):
        extract_package(archive, tmp_path / "t", verify=False)
    out = extract_package(archive, tmp_path / "u", verify=False)
    assert (out / "README.md").read_bytes() == b"hi"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # temp dir renamed away


def test_verify_reports_an_unsafe_archive_as_failed(cli, tmp_path):
    archive = tmp_path / "bad.expert"
    archive.write_bytes(ATTACKS["symlink"]())
    res = cli("verify", archive)
    assert res.exit_code == 1 and "archive" in res.stdout and "symlink" in res.stdout
    assert cli("verify", tmp_path / "missing.expert").exit_code == 2
