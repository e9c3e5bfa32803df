"""A wrong thing where a .expert is expected: the error names the file, and damage is one exit code."""

from __future__ import annotations

import io
import tarfile

import pytest

from expertkit.registry.store import read_registry


def tar_without_digests(path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    path.write_bytes(raw.getvalue())
    return path


@pytest.fixture
def bad(tmp_path):
    (tmp_path / "text.expert").write_text("hello, I am a text file\n")
    (tmp_path / "garbage.expert").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "folder.expert").mkdir()
    return {"text": tmp_path / "text.expert", "garbage": tmp_path / "garbage.expert",
            "nodigests": tar_without_digests(tmp_path / "nodigests.expert"), "folder": tmp_path / "folder.expert"}


@pytest.mark.parametrize("command", ["install", "verify"])
def test_damaged_packages_share_one_exit_code_and_name_the_file(cli, bad, command):
    codes = {}
    for kind in ("text", "garbage", "nodigests"):
        res = cli(command, bad[kind])
        codes[kind] = res.exit_code
        assert bad[kind].name in res.output and "Traceback" not in res.output, res
    assert set(codes.values()) == {1}, codes
    assert read_registry()["experts"] == {}


def test_sign_names_the_text_file(cli, bad):
    assert cli("keygen").exit_code == 0
    res = cli("sign", bad["text"])
    assert res.exit_code == 2 and str(bad["text"]) in res.stderr, res


@pytest.mark.parametrize("command", ["sign", "verify"])
def test_a_directory_is_not_a_file_not_found(cli, bad, command):
    assert cli("keygen").exit_code == 0
    res = cli(command, bad["folder"])
    assert res.exit_code == 2 and "is a directory" in res.stderr and "not found" not in res.stderr, res


@pytest.mark.parametrize("args", [("dataset", "prepare", "--seed", "99999999999999999999999"),
                                  ("train", "--seed", "-1"), ("dataset", "prepare", "--seed", str(2**32))])
def test_out_of_range_seed_is_refused(cli, args, tmp_path):
    res = cli(*args, cwd=tmp_path)
    assert res.exit_code == 2 and "--seed" in res.output, res
