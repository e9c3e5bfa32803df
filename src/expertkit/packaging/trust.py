"""The trusted-keys store: `$EXPERT_HOME/trusted_keys/<key id[:16]>.pub` (PEM public keys).

A package whose signer is in this store installs without `--trust`; `install --trust` adds
the signer here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from expertkit import atomic
from expertkit.errors import UsageError
from expertkit.home import trusted_keys_dir
from expertkit.packaging.keys import KeyPair, generate_keypair, key_id, load_public_key, public_pem

MIN_ID_PREFIX = 8


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    path: Path


def add_trusted(key: Ed25519PublicKey) -> TrustedKey:
    kid = key_id(key)
    path = trusted_keys_dir() / f"{kid[:16]}.pub"
    atomic.write_bytes(path, public_pem(key), mode=0o644)
    return TrustedKey(kid, path)


def add_trusted_file(pubkey_file: str | Path) -> TrustedKey:
    """Trust the public key in ``pubkey_file``; a private key file is refused (its secret is never copied)."""
    path = Path(pubkey_file)
    if path.is_file() and b"PRIVATE KEY" in path.read_bytes()[:4096]:
        raise UsageError(f"{path}: is a private key; trust takes the public half ({path.name}.pub)",
                         hint="never copy or share a private key; give its .pub file")
    return add_trusted(load_public_key(path))


def create_key(output: str | Path | None = None, *, force: bool = False, trust: bool = True) -> tuple[KeyPair, TrustedKey | None]:
    """A new signing key pair; its public half is trusted here too (as gpg and minisign do with your own key)."""
    pair = generate_keypair(output, force=force)
    return pair, (add_trusted_file(pair.public_path) if trust else None)


def list_trusted() -> list[TrustedKey]:
    out = []
    folder = trusted_keys_dir()
    for path in sorted(folder.glob("*.pub")) if folder.is_dir() else []:
        try:
            out.append(TrustedKey(key_id(load_public_key(path)), path))
        except Exception:  # noqa: BLE001 - a broken file in the store must not hide the good ones
            continue
    return out


def is_trusted(kid: str) -> bool:
    return any(t.key_id == kid for t in list_trusted())


def remove_trusted(what: str | Path) -> list[TrustedKey]:
    """Remove by public key file or by key id (a prefix of at least 8 hex characters)."""
    text = str(what)
    if Path(text).is_file():
        wanted = key_id(load_public_key(text))
        matches = [t for t in list_trusted() if t.key_id == wanted]
    elif text and all(c in "0123456789abcdef" for c in text.lower()):
        if len(text) < MIN_ID_PREFIX:
            raise UsageError(f"{text}: a key id prefix needs at least {MIN_ID_PREFIX} hex digits ({len(text)} given)",
                             hint="copy more of the id from `expert-cli trust list`")
        matches = [t for t in list_trusted() if t.key_id.startswith(text.lower())]
    else:
        raise UsageError(f"{text!r}: neither a public key file nor a key id", hint="see `expert-cli trust list`")
    if not matches:
        raise UsageError(f"{text!r}: not in the trusted keys", hint="see `expert-cli trust list`")
    for t in matches:
        t.path.unlink(missing_ok=True)
    return matches
