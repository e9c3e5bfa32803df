"""model_digest: the documented definition, sharded weights, and the size+mtime cache."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from expertkit.errors import EnvironmentProblem
from expertkit.models.digest import model_digest
from expertkit.models.index import read_index, update_index


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_single_file_digest_is_plain_sha256(tiny_llama_dir):
    assert model_digest(tiny_llama_dir) == _sha(tiny_llama_dir / "model.safetensors")


def test_sharded_digest_is_sha256_of_sorted_listing(tmp_path):
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"two")
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"one")
    names = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    listing = "".join(f"{_sha(tmp_path / n)}  {n}\n" for n in names)
    assert model_digest(tmp_path) == hashlib.sha256(listing.encode()).hexdigest()


def test_no_weights_is_environment_problem(tmp_path):
    with pytest.raises(EnvironmentProblem):
        model_digest(tmp_path)


def test_cache_is_used_until_the_file_changes(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    real = _sha(weights)
    assert model_digest(tmp_path) == real
    key = str(weights.resolve())
    assert read_index()["file_digests"][key]["sha256"] == real

    def poison(data):
        data["file_digests"][key]["sha256"] = "f" * 64

    update_index(poison)
    assert model_digest(tmp_path) == "f" * 64  # cache hit: same size and mtime
    weights.write_bytes(b"other!!")  # same size, new mtime
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert model_digest(tmp_path) == _sha(weights)


def test_symlinked_dir_shares_the_cache(tmp_path, tiny_llama_dir):
    shutil.copytree(tiny_llama_dir, tmp_path / "m")
    (tmp_path / "link").symlink_to(tmp_path / "m")
    assert model_digest(tmp_path / "link") == model_digest(tmp_path / "m")
    assert len(read_index()["file_digests"]) == 1
