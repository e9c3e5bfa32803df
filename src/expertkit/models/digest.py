"""The base-model digest: what `base_models[].sha256` in a manifest is compared against.

Definition (also printed by `expert-cli models list --json`):

* The digest covers the model's weight files only: every ``*.safetensors`` file directly in the
  model directory (or, for a directory without safetensors, every ``*.bin`` file). Config and
  tokenizer files are not covered; they don't change what the adapter was trained against.
* One weights file (the usual ``model.safetensors``): the digest is that file's plain SHA-256,
  so ``sha256sum model.safetensors`` gives the same value.
* Several (sharded) files: SHA-256 of the text ``"<sha256>  <file name>\\n"`` for each file in
  byte-wise sorted name order, i.e. ``sha256sum $(ls *.safetensors | LC_ALL=C sort) | sha256sum``.

Hashing ~0.5-1.5 GB takes seconds, so per-file results are cached in ``models/index.json``
keyed by the file's real path, size and mtime; a changed file is hashed again.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from expertkit.errors import EnvironmentProblem, IntegrityError, ValidationError

DIGEST_DEFINITION = (
    "sha256 of the single *.safetensors weights file in the model directory (same as `sha256sum model.safetensors`); "
    "for sharded weights, sha256 of the lines '<sha256>  <file name>\\n' of every *.safetensors file in sorted name order "
    "(*.bin files when there are no safetensors). Config and tokenizer files are not covered."
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 4 * 1024 * 1024


def weight_files(model_dir: str | Path) -> list[Path]:
    """The files the digest covers, sorted by name (empty when the dir holds no weights)."""
    model_dir = Path(model_dir)
    files = sorted(model_dir.glob("*.safetensors"), key=lambda p: p.name.encode())
    if not files:
        files = sorted(model_dir.glob("*.bin"), key=lambda p: p.name.encode())
    return [f for f in files if f.is_file()]


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | Path, *, use_cache: bool = True) -> str:
    """SHA-256 of one file, cached in the model index by (real path, size, mtime)."""
    from expertkit.models.index import read_index, update_index

    real = Path(path).resolve()
    st = os.stat(real)
    key = str(real)
    if use_cache:
        hit = read_index()["file_digests"].get(key)
        if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
            return hit["sha256"]
    digest = _hash_file(real)
    if use_cache:

        def record(data: dict) -> None:
            data["file_digests"][key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}

        update_index(record)
    return digest


def model_digest(path: str | Path, *, use_cache: bool = True) -> str:
    """The digest of the model directory ``path`` (see the module docstring for what it covers)."""
    files = weight_files(path)
    if not files:
        raise EnvironmentProblem(
            f"{path}: no *.safetensors or *.bin weights to digest",
            hint="point at a Hugging Face model directory (config.json + *.safetensors + tokenizer files)",
        )
    if len(files) == 1:
        return file_sha256(files[0], use_cache=use_cache)
    listing = "".join(f"{file_sha256(f, use_cache=use_cache)}  {f.name}\n" for f in files)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def normalize_digest(value: str, *, field: str = "sha256") -> str:
    """Lower-case hex, an optional ``sha256:`` prefix removed; anything else is a ValidationError."""
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    if not _HEX64.match(text):
        raise ValidationError(f"{field}: {value!r} is not a sha256 digest (64 hex characters)", hint="copy it from `expert-cli models list --json`")
    return text


def check_digest(path: str | Path, expected: str, *, name: str, field: str = "base_models[].sha256") -> str:
    """Compare the model at ``path`` with ``expected``; IntegrityError on a mismatch. Returns the digest."""
    want = normalize_digest(expected, field=field)
    got = model_digest(path)
    if got != want:
        raise IntegrityError(
            f"base model {name!r}: weights digest {got} does not match {field} {want}",
            hint="the model differs from the one the expert was built for; use the right model, or update sha256 "
            "from `expert-cli models list --json` if the change is intended",
        )
    return got
