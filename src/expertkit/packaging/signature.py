"""The SIGNATURE member: an Ed25519 signature over the DIGESTS bytes, plus the signer's key.

SIGNATURE is JSON (sorted keys, so re-signing with the same key gives the same bytes)::

    {"algorithm": "ed25519", "format": "expertkit-signature/1", "key_id": "<sha256 of raw key>",
     "public_key": "<base64 raw 32 bytes>", "signature": "<base64 64 bytes>", "signed": "DIGESTS"}

The signed message is ``b"expertkit-signature/1\\0" + DIGESTS``; the prefix keeps the
signature from being valid for any other purpose. DIGESTS lists every member but itself and
SIGNATURE, so adding, removing or changing any member breaks the signature.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from expertkit.errors import IntegrityError
from expertkit.packaging.keys import key_id, public_from_raw, raw_public_bytes

FORMAT = "expertkit-signature/1"
_PREFIX = FORMAT.encode("ascii") + b"\0"


def signature_member(private_key: Ed25519PrivateKey, digests: bytes) -> bytes:
    public = private_key.public_key()
    doc = {
        "algorithm": "ed25519",
        "format": FORMAT,
        "key_id": key_id(public),
        "public_key": base64.b64encode(raw_public_bytes(public)).decode("ascii"),
        "signature": base64.b64encode(private_key.sign(_PREFIX + digests)).decode("ascii"),
        "signed": "DIGESTS",
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Signer:
    key: Ed25519PublicKey
    key_id: str


def check_signature(doc: Any, digests: bytes) -> Signer:
    """The signer when ``doc`` (parsed SIGNATURE) is a valid signature over ``digests``; else IntegrityError."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("algorithm") != "ed25519":
        raise IntegrityError(f"signature: SIGNATURE is not an {FORMAT} ed25519 document")
    try:
        raw_key = base64.b64decode(doc["public_key"], validate=True)
        sig = base64.b64decode(doc["signature"], validate=True)
        public = public_from_raw(raw_key)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise IntegrityError(f"signature: SIGNATURE is malformed: {exc}") from None
    kid = key_id(public)
    if doc.get("key_id") != kid:
        raise IntegrityError("signature: SIGNATURE key_id does not match its public key")
    try:
        public.verify(sig, _PREFIX + digests)
    except InvalidSignature:
        raise IntegrityError("signature: the Ed25519 signature does not match DIGESTS (package or signature altered)") from None
    return Signer(public, kid)
