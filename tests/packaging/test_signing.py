"""keygen, sign, verify, trust: the signed round trip, the sidecar, re-signing, policy inputs."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest

from expertkit.errors import IntegrityError, UsageError
from expertkit.packaging.keys import default_key_path, generate_keypair, load_public_key
from expertkit.packaging.reader import open_package
from expertkit.packaging.signing import sign_package
from expertkit.packaging.trust import add_trusted_file, list_trusted, remove_trusted
from expertkit.packaging.verify import verify_package
from tests.packaging.expert_builders import package_expert


def test_keygen_writes_private_0600_and_public(cli, expert_home):
    res = cli("keygen")
    assert res.exit_code == 0, res
    private = expert_home / "keys" / "default"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private.read_bytes()
    assert b"BEGIN PUBLIC KEY" in (expert_home / "keys" / "default.pub").read_bytes()
    again = cli("keygen")
    assert again.exit_code == 2 and "--force" in again.output


def test_sign_without_key_says_run_keygen(cli, expert_dir):
    res = cli("sign", "--expert", package_expert(expert_dir))
    assert res.exit_code == 2 and "keygen" in res.output


def test_sign_verify_round_trip_and_sha256sum(cli, expert_dir):
    path = package_expert(expert_dir)
    assert cli("keygen").exit_code == 0
    res = cli("sign", "--expert", path)
    assert res.exit_code == 0, res
    assert "SIGNATURE" in open_package(path).names
    check = subprocess.run(["sha256sum", "-c", path.name + ".sha256"], cwd=path.parent, capture_output=True, text=True)
    assert check.returncode == 0 and "OK" in check.stdout
    # keygen trusted its own key: verify passes at once; without that trust it fails naming the check
    assert cli("verify", path).exit_code == 0
    assert cli("trust", "remove", default_key_path().with_name("default.pub")).exit_code == 0
    res = cli("verify", path)
    assert res.exit_code == 1 and "trust" in res.output
    assert cli("trust", "add", default_key_path().with_name("default.pub")).exit_code == 0
    res = cli("verify", path, "--json")
    assert res.exit_code == 0, res
    report = json.loads(res.stdout)
    assert report["ok"] and [c["status"] for c in report["checks"]] == ["ok"] * 9


def test_verify_with_pubkey(expert_dir, tmp_path):
    path = package_expert(expert_dir)
    mine = generate_keypair(tmp_path / "mine")
    other = generate_keypair(tmp_path / "other")
    sign_package(path, mine.private_path)
    assert verify_package(path, pubkey=load_public_key(mine.public_path)).ok
    report = verify_package(path, pubkey=load_public_key(other.public_path))
    assert not report.ok and report.failed[0].name == "trust" and not report.tampered


def test_resign_replaces_signature_cleanly(expert_dir, tmp_path):
    path = package_expert(expert_dir)
    a, b = generate_keypair(tmp_path / "a"), generate_keypair(tmp_path / "b")
    sign_package(path, a.private_path)
    first = path.read_bytes()
    assert sign_package(path, a.private_path).replaced
    assert path.read_bytes() == first  # Ed25519 is deterministic: same key, same bytes
    result = sign_package(path, b.private_path)
    pkg = open_package(path)
    assert pkg.names.count("SIGNATURE") == 1 and pkg.signature["key_id"] == result.key_id == b.key_id
    assert verify_package(path, pubkey=load_public_key(b.public_path)).ok


def test_unsigned_package_fails_verify_but_is_not_tampered(cli, expert_dir):
    path = package_expert(expert_dir)
    report = verify_package(path)
    assert not report.ok and not report.tampered and not report.signed
    res = cli("verify", path)
    assert res.exit_code == 1 and "unsigned" in res.output


def test_trust_add_list_remove(cli, tmp_path):
    pair = generate_keypair(tmp_path / "k")
    assert add_trusted_file(pair.public_path).key_id == pair.key_id
    assert [k.key_id for k in list_trusted()] == [pair.key_id]
    res = cli("trust", "list", "--json")
    assert json.loads(res.stdout)["keys"][0]["key_id"] == pair.key_id
    assert cli("trust", "remove", pair.public_path).exit_code == 0
    assert list_trusted() == []
    add_trusted_file(pair.public_path)
    remove_trusted(pair.key_id[:12])
    assert list_trusted() == []
    with pytest.raises(UsageError):
        remove_trusted(pair.key_id[:12])


def test_sign_refuses_a_tampered_package(expert_dir, tmp_path):
    from tests.packaging.test_tamper import rewrite_members

    path = package_expert(expert_dir)
    rewrite_members(path, lambda files: files.__setitem__("README.md", b"changed\n"))
    pair = generate_keypair(tmp_path / "k")
    with pytest.raises(IntegrityError, match="README.md"):
        sign_package(path, pair.private_path)


def test_sign_takes_the_file_as_argument_or_option_and_keeps_its_mode(cli, expert_dir):
    path = package_expert(expert_dir)
    assert cli("keygen").exit_code == 0
    path.chmod(0o444)
    res = cli("sign", path)
    assert res.exit_code == 0, res
    assert path.stat().st_mode & 0o777 == 0o444
    assert cli("sign", "--expert", path).exit_code == 0
    res = cli("sign")
    assert res.exit_code == 2 and "missing the .expert file" in res.stderr


def test_keygen_trusts_its_own_key_unless_told_not_to(cli, expert_home, tmp_path):
    res = cli("keygen")
    assert res.exit_code == 0 and "trusted here" in res.stdout
    [trusted] = list_trusted()
    assert trusted.key_id in res.stdout
    assert cli("keygen", "--output", tmp_path / "other", "--no-trust").exit_code == 0
    assert len(list_trusted()) == 1


def test_trust_add_refuses_a_private_key_and_copies_nothing(cli, expert_home):
    assert cli("keygen", "--no-trust").exit_code == 0
    res = cli("trust", "add", expert_home / "keys" / "default")
    assert res.exit_code == 2 and "is a private key" in res.stderr and "default.pub" in res.stderr
    store = expert_home / "trusted_keys"
    assert list_trusted() == [] and (not store.exists() or not any(store.iterdir()))


def test_trust_remove_with_a_short_id_says_it_is_too_short(cli, expert_home):
    assert cli("keygen").exit_code == 0
    res = cli("trust", "remove", "28ac")
    assert res.exit_code == 2 and "needs at least 8 hex digits (4 given)" in res.stderr
