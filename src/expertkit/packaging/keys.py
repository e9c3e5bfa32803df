"""Ed25519 key files (via `cryptography`): generate, load, fingerprint.

Like ssh-keygen, a key pair is two files: ``NAME`` (private key, PKCS#8 PEM, mode 0600) and
``NAME.pub`` (public key, SubjectPublicKeyInfo PEM). The default pair is
``$EXPERT_HOME/keys/default``. A key's id is the sha256 of its raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from expertkit import atomic
from expertkit.errors import UsageError, ValidationError
from expertkit.home import keys_dir

PRIVATE_MODE = 0o600


def default_key_path() -> Path:
    return keys_dir() / "default"


def public_key_path(private_path: str | Path) -> Path:
    private_path = Path(private_path)
    return private_path.with_name(private_path.name + ".pub")


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Full fingerprint (64 hex); show the first 16 characters to people."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    key_id: str


def generate_keypair(output: str | Path | None = None, *, force: bool = False) -> KeyPair:
    """Write a new key pair at ``output`` (default keys/default); refuses to overwrite unless ``force``."""
    private_path = Path(output) if output else default_key_path()
    pub_path = public_key_path(private_path)
    if not force and (private_path.exists() or pub_path.exists()):
        raise UsageError(f"{private_path} already exists", hint="pass --force to replace it (signatures made with it will no longer match a new key), or choose --output")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    atomic.write_bytes(private_path, pem, mode=PRIVATE_MODE)
    atomic.write_bytes(pub_path, public_pem(key.public_key()), mode=0o644)
    return KeyPair(private_path, pub_path, key_id(key.public_key()))


def load_private_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    """The Ed25519 private key at ``path`` (default keys/default); a missing default says to run keygen."""
    path = Path(path) if path else default_key_path()
    if not path.is_file():
        raise UsageError(f"no signing key at {path}", hint="run `expert-cli keygen` first (or pass --key PATH)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(f"{path}: not an Ed25519 key (found {type(key).__name__})", hint="make one with `expert-cli keygen`")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (a private key file is accepted too)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: public key file not found")
    data = path.read_bytes()
    try:
        if b"PRIVATE KEY" in data:
            key = load_private_key(path).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{path}: not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError(f"{path}: not an Ed25519 public key (found {type(key).__name__})")
    return key


def public_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)
