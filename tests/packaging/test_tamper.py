"""Tampering with any member, the manifest, DIGESTS or SIGNATURE is caught, naming the check."""

from __future__ import annotations

import base64
import json

import pytest

from expertkit.packaging.archive import archive_bytes
from expertkit.packaging.digests import render_digests
from expertkit.packaging.keys import generate_keypair, load_public_key
from expertkit.packaging.reader import open_package
from expertkit.packaging.signing import sign_package
from expertkit.packaging.verify import verify_package
from tests.packaging.expert_builders import package_expert


def rewrite_members(path, edit) -> None:
    """Rebuild the archive with ``edit(files)`` applied, keeping DIGESTS/SIGNATURE unless edited."""
    files = dict(open_package(path).files)
    edit(files)
    path.write_bytes(archive_bytes(files))


@pytest.fixture
def signed(expert_dir, tmp_path):
    path = package_expert(expert_dir, include_tests=True)
    pair = generate_keypair(tmp_path / "key")
    sign_package(path, pair.private_path)
    return path, load_public_key(pair.public_path)


def _failed(path, pubkey, *, drop_sidecar=True):
    if drop_sidecar:
        path.with_name(path.name + ".sha256").unlink()
    report = verify_package(path, pubkey=pubkey)
    assert not report.ok and report.tampered
    return {c.name: c.detail for c in report.failed}


def test_untampered_verifies(signed):
    path, pub = signed
    assert verify_package(path, pubkey=pub).ok


@pytest.mark.parametrize("member", ["adapter_model.safetensors", "adapter_config.json", "README.md", "LICENSE", "tests/test_cases.json"])
def test_changed_member(signed, member):
    path, pub = signed
    rewrite_members(path, lambda f: f.__setitem__(member, f[member] + b"x"))
    failed = _failed(path, pub)
    assert member in failed["members"]


def test_changed_manifest(signed):
    path, pub = signed
    def edit(f):
        raw = json.loads(f["manifest.json"])
        raw["description"] = "evil"
        f["manifest.json"] = json.dumps(raw).encode()
    rewrite_members(path, edit)
    assert "manifest.json" in _failed(path, pub)["members"]


def test_added_member_is_unlisted(signed):
    path, pub = signed
    rewrite_members(path, lambda f: f.__setitem__("extra.txt", b"surprise"))
    assert "extra.txt" in _failed(path, pub)["unlisted"]


def test_added_empty_directory_is_unlisted(signed):
    import io
    import tarfile

    from expertkit.packaging.safe_extract import Member

    path, pub = signed
    pkg = open_package(path)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for m in [*pkg.members, Member("stray", "dir")]:
            info = tarfile.TarInfo(m.name)
            info.type = tarfile.DIRTYPE if m.kind == "dir" else tarfile.REGTYPE
            info.size = len(m.data)
            tar.addfile(info, io.BytesIO(m.data) if m.kind == "file" else None)
    path.write_bytes(raw.getvalue())
    assert "stray/" in _failed(path, pub)["unlisted"]


def test_removed_member(signed):
    path, pub = signed
    rewrite_members(path, lambda f: f.pop("LICENSE"))
    assert "missing: LICENSE" in _failed(path, pub)["members"]


def test_digests_recomputed_after_change_breaks_signature(signed):
    path, pub = signed
    def edit(f):
        f["README.md"] = b"# replaced\n"
        f["DIGESTS"] = render_digests(f)
    rewrite_members(path, edit)
    failed = _failed(path, pub)
    assert set(failed) == {"signature"} and "does not match DIGESTS" in failed["signature"]


def test_digests_garbled(signed):
    path, pub = signed
    rewrite_members(path, lambda f: f.__setitem__("DIGESTS", b"not a digest list\n"))
    assert "digests" in _failed(path, pub)


def test_signature_altered(signed):
    path, pub = signed
    def edit(f):
        doc = json.loads(f["SIGNATURE"])
        sig = bytearray(base64.b64decode(doc["signature"]))
        sig[0] ^= 1
        doc["signature"] = base64.b64encode(bytes(sig)).decode()
        f["SIGNATURE"] = json.dumps(doc).encode()
    rewrite_members(path, edit)
    assert "signature" in _failed(path, pub)


def test_signature_with_swapped_key(signed, tmp_path):
    path, pub = signed
    other = generate_keypair(tmp_path / "other")
    def edit(f):
        doc = json.loads(f["SIGNATURE"])
        doc["public_key"] = base64.b64encode(load_public_key(other.public_path).public_bytes_raw()).decode()
        f["SIGNATURE"] = json.dumps(doc).encode()
    rewrite_members(path, edit)
    assert "signature" in _failed(path, pub)


def test_whole_file_changed_fails_the_sidecar(signed):
    path, pub = signed
    rewrite_members(path, lambda f: f.__setitem__("README.md", b"x"))
    failed = _failed(path, pub, drop_sidecar=False)
    assert "sidecar" in failed and "members" in failed


def test_cli_verify_names_the_failed_check(cli, signed, tmp_path):
    path, _ = signed
    rewrite_members(path, lambda f: f.__setitem__("adapter_model.safetensors", b"0" * 10))
    res = cli("verify", path)
    assert res.exit_code == 1
    assert "members" in res.stdout and "adapter_model.safetensors" in res.stdout and "sidecar" in res.stdout
