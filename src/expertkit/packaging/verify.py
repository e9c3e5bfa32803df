"""Verify a package: sidecar, member digests, unlisted members, manifest, signature, trust.

Every check runs (as far as the earlier ones allow) and is reported by name, so the user sees
exactly which one failed. `VerifyReport.ok` holds only when all of them pass; the registry uses
`tampered` / `signed` / `trusted` to apply its install policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from expertkit.errors import ExpertError, IntegrityError, PackageError, UsageError
from expertkit.packaging.digests import DIGESTS_NAME, UNDIGESTED, parse_digests, parse_sidecar, sha256_bytes, sha256_file
from expertkit.packaging.keys import key_id
from expertkit.packaging.reader import ADAPTER_WEIGHTS_NAME, PackageContents, open_package, write_contents
from expertkit.packaging.safe_extract import DEFAULT_LIMITS, Limits
from expertkit.packaging.signature import check_signature
from expertkit.packaging.trust import is_trusted

INTEGRITY_CHECKS = ("archive", "sidecar", "digests", "members", "unlisted", "manifest", "tensors", "signature")


@dataclass
class Check:
    name: str
    status: str  # ok | failed | skipped
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail}


@dataclass
class VerifyReport:
    path: str
    sha256: str
    checks: list[Check] = field(default_factory=list)
    signed: bool = False
    signer: str | None = None  # key id of a valid signature
    trusted: bool = False
    manifest: dict[str, Any] | None = None

    def add(self, name: str, status: str, detail: str = "") -> None:
        self.checks.append(Check(name, status, detail))

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and self.signed and self.trusted

    @property
    def tampered(self) -> bool:
        """An integrity check failed (an unsigned package is not tampered, just unsigned)."""
        return any(c.name in INTEGRITY_CHECKS and c.status == "failed" and not (c.name == "signature" and not self.signed)
                   for c in self.checks)

    def summary(self) -> str:
        if not self.failed:
            return "all checks passed"
        return "; ".join(f"{c.name}: {c.detail}" for c in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "ok": self.ok, "signed": self.signed, "signer": self.signer,
                "trusted": self.trusted, "tampered": self.tampered, "checks": [c.to_dict() for c in self.checks]}


def _sidecar(report: VerifyReport, pkg: PackageContents, sidecar: Path | None) -> None:
    if sidecar is None or not sidecar.is_file():
        report.add("sidecar", "skipped", "no .sha256 file beside the package")
        return
    try:
        digest, _name = parse_sidecar(sidecar.read_text(encoding="utf-8", errors="replace"))
    except IntegrityError as exc:
        report.add("sidecar", "failed", exc.message.removeprefix("sidecar: "))
        return
    if digest != pkg.sha256:
        report.add("sidecar", "failed", f"{sidecar.name} says {digest[:16]}..., the file is {pkg.sha256[:16]}...")
    else:
        report.add("sidecar", "ok", f"{sidecar.name} matches")


def _members(report: VerifyReport, pkg: PackageContents) -> dict[str, str] | None:
    if DIGESTS_NAME not in pkg.files:
        report.add("digests", "failed", "the package has no DIGESTS member")
        return None
    try:
        listed = parse_digests(pkg.files[DIGESTS_NAME])
    except IntegrityError as exc:
        report.add("digests", "failed", exc.message.removeprefix("digests: "))
        return None
    report.add("digests", "ok", f"{len(listed)} members listed")
    bad = [n for n, d in listed.items() if n not in pkg.files or sha256_bytes(pkg.files[n]) != d]
    if bad:
        missing = [n for n in bad if n not in pkg.files]
        changed = [n for n in bad if n in pkg.files]
        detail = "; ".join(x for x in (f"changed: {', '.join(changed)}" if changed else "",
                                       f"missing: {', '.join(missing)}" if missing else "") if x)
        report.add("members", "failed", f"member digest mismatch ({detail})")
    else:
        report.add("members", "ok", "every member matches DIGESTS")
    unlisted = [n for n in pkg.files if n not in listed and n not in UNDIGESTED]
    parents = {"/".join(n.split("/")[:i]) for n in pkg.files for i in range(1, n.count("/") + 1)}
    unlisted += [m.name + "/" for m in pkg.members if m.kind == "dir" and m.name not in parents]  # stray empty dirs
    report.add("unlisted", "failed" if unlisted else "ok", f"not in DIGESTS: {', '.join(unlisted)}" if unlisted else "none")
    return listed


def _manifest(report: VerifyReport, pkg: PackageContents) -> None:
    from expertkit.manifest.loader import parse_manifest

    try:
        raw = pkg.manifest
    except ExpertError as exc:
        report.add("manifest", "failed", exc.message)
        return
    model, _, problems = parse_manifest(raw, None, check_files=False)
    errors = [p for p in problems if p.severity == "error"]
    if model is None or errors:
        report.add("manifest", "failed", f"manifest.json is invalid: {errors[0] if errors else 'invalid'}")
        return
    report.manifest = raw
    adapters = model.base_models[0].adapters
    weights = pkg.files.get(ADAPTER_WEIGHTS_NAME)
    if adapters and adapters[0].sha256 and weights is not None and sha256_bytes(weights) != adapters[0].sha256:
        report.add("manifest", "failed", "adapters[0].sha256 does not match adapter_model.safetensors")
        return
    report.add("manifest", "ok", f"{model.name} {model.version}")


def _tensors(report: VerifyReport, pkg: PackageContents) -> None:
    from expertkit.packaging.tensor_check import check_members

    try:
        check_members(pkg.files)
    except PackageError as exc:
        report.add("tensors", "failed", exc.message)
        return
    report.add("tensors", "ok", "safetensors whole; names, shapes and rank match adapter_config.json")


def _signature(report: VerifyReport, pkg: PackageContents, pubkey: Ed25519PublicKey | None) -> None:
    if "SIGNATURE" not in pkg.files:
        report.add("signature", "failed", "the package is unsigned (run `expert-cli sign --expert FILE`)")
        report.add("trust", "skipped", "no signature")
        return
    report.signed = True
    try:
        signer = check_signature(json.loads(pkg.files["SIGNATURE"].decode("utf-8")), pkg.files.get(DIGESTS_NAME, b""))
    except (IntegrityError, ValueError) as exc:
        report.add("signature", "failed", getattr(exc, "message", str(exc)).removeprefix("signature: "))
        report.add("trust", "skipped", "no valid signature")
        return
    report.signer = signer.key_id
    report.add("signature", "ok", f"Ed25519, key {signer.key_id[:16]}")
    if pubkey is not None:
        report.trusted = key_id(pubkey) == signer.key_id
        detail = "signer is the given --pubkey" if report.trusted else f"signer {signer.key_id[:16]} is not the given --pubkey"
    else:
        report.trusted = is_trusted(signer.key_id)
        detail = "signer is in trusted_keys" if report.trusted else (
            f"signer {signer.key_id[:16]} is not trusted (`expert-cli trust add KEY.pub`, or install --trust)")
    report.add("trust", "ok" if report.trusted else "failed", detail)


def verify_contents(pkg: PackageContents, *, sidecar: Path | None = None, pubkey: Ed25519PublicKey | None = None) -> VerifyReport:
    report = VerifyReport(pkg.label, pkg.sha256)
    report.add("archive", "ok", f"{len(pkg.files)} regular files, names and sizes safe")
    _sidecar(report, pkg, sidecar)
    _members(report, pkg)
    _manifest(report, pkg)
    _tensors(report, pkg)
    _signature(report, pkg, pubkey)
    return report


def verify_package(path: str | Path, *, pubkey: Ed25519PublicKey | None = None) -> VerifyReport:
    """Open ``path`` and run every check; an unreadable or unsafe archive is a failed `archive` check."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a .expert file")
    if not path.is_file():
        raise UsageError(f"{path}: file not found")
    try:
        pkg = open_package(path)
    except PackageError as exc:
        report = VerifyReport(str(path), sha256_file(path))
        report.add("archive", "failed", exc.message)
        return report
    return verify_contents(pkg, sidecar=path.with_name(path.name + ".sha256"), pubkey=pubkey)


def require_intact(pkg: PackageContents) -> None:
    """Raise IntegrityError unless DIGESTS is present and every member matches it (no signature needed)."""
    report = VerifyReport(pkg.label, pkg.sha256)
    _members(report, pkg)
    if report.failed:
        raise IntegrityError(f"{pkg.label}: {report.summary()}", hint="the package was altered or damaged; get a fresh copy")


def extract_package(path: str | Path, dest: str | Path, *, verify: bool = True, replace: bool = False,
                    limits: Limits = DEFAULT_LIMITS) -> Path:
    """Extract ``path`` into the new directory ``dest`` (temp dir + rename); returns ``dest``.

    With ``verify`` every member must match DIGESTS (`require_intact`); no signature is needed."""
    pkg = open_package(path, limits=limits)
    if verify:
        require_intact(pkg)
    return write_contents(pkg, dest, replace=replace)
