"""`sign`: embed an Ed25519 SIGNATURE in a package and write its `.sha256` sidecar.

The archive is rewritten deterministically (same members + the new SIGNATURE); an older
SIGNATURE is replaced. A package whose members don't match its DIGESTS is refused: signing it
would bless the tampering.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from expertkit import atomic
from expertkit.packaging.archive import write_archive
from expertkit.packaging.digests import DIGESTS_NAME, SIGNATURE_NAME, sha256_bytes, sidecar_text
from expertkit.packaging.keys import key_id, load_private_key
from expertkit.packaging.reader import open_package
from expertkit.packaging.signature import signature_member
from expertkit.packaging.tensor_check import check_members
from expertkit.packaging.verify import require_intact


@dataclass(frozen=True)
class SignResult:
    path: Path
    sidecar: Path
    sha256: str
    key_id: str
    replaced: bool  # an older signature was replaced


def write_sidecar(path: Path, data: bytes) -> Path:
    sidecar = path.with_name(path.name + ".sha256")
    atomic.write_text(sidecar, sidecar_text(sha256_bytes(data), path.name))
    return sidecar


def sign_package(path: str | Path, key: str | Path | None = None) -> SignResult:
    """Sign ``path`` in place with the private key ``key`` (default `$EXPERT_HOME/keys/default`)."""
    path = Path(path)
    private_key = load_private_key(key)
    pkg = open_package(path)
    require_intact(pkg)
    check_members(pkg.files, f"{path}: adapter_model.safetensors")  # never bless a damaged adapter with a signature
    files = {name: data for name, data in pkg.files.items() if name != SIGNATURE_NAME}
    files[SIGNATURE_NAME] = signature_member(private_key, files[DIGESTS_NAME])
    data = write_archive(path, files, mode=path.stat().st_mode & 0o7777)  # a 0444 package stays 0444
    sidecar = write_sidecar(path, data)
    return SignResult(path, sidecar, sha256_bytes(data), key_id(private_key.public_key()), SIGNATURE_NAME in pkg.files)
