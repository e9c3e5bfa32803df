"""`install`: fetch, verify, apply the policy, resolve requires, check the base model, then commit.

Policy: a tampered package (any failed integrity check) is always refused; an unsigned one
needs `allow_unsigned`; one signed by an untrusted key needs `trust` (which then records the
key in trusted_keys). `reinstall` replaces an installed version; `ignore_base_model` installs
despite a missing or different base model (two separate choices); neither overrides integrity. Every package (the expert and the dependencies planned
from `--from DIR`) is verified before anything is written, then committed deps-first, each
under the registry lock: extract to a temp dir, rename into experts/<name>/<version>/, record.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from expertkit.errors import EnvironmentProblem, IntegrityError, ManifestError, PackageError, RegistryError
from expertkit.packaging.reader import PackageContents, open_package, write_contents
from expertkit.packaging.verify import VerifyReport, verify_contents
from expertkit.registry.base_model_check import check_base_model
from expertkit.registry.resolver import plan_requirements
from expertkit.registry.sources import Fetched, fetch_source
from expertkit.registry.store import CURRENT_RULE, read_registry, set_current, transaction, version_dir


@dataclass(frozen=True)
class Options:
    allow_unsigned: bool = False
    trust: bool = False
    from_dir: Path | None = None
    reinstall: bool = False
    ignore_base_model: bool = False
    pin: bool = False  # make this version current even when a newer one is installed


@dataclass
class Prepared:
    pkg: PackageContents
    report: VerifyReport
    manifest: dict[str, Any]
    fetched: Fetched
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]


@dataclass
class InstallResult:
    name: str
    version: str
    path: Path
    signer: str | None
    trusted: bool
    dependencies: list[str] = field(default_factory=list)  # name@version installed along
    warnings: list[str] = field(default_factory=list)


def apply_policy(report: VerifyReport, opts: Options) -> list[str]:
    """Raise IntegrityError when the package may not be installed; returns warnings."""
    if report.tampered:
        raise IntegrityError(f"{report.path}: refused, integrity check failed: {report.summary()}",
                             hint="the package was altered or damaged; get a fresh copy from its publisher")
    if not report.signed:
        if not opts.allow_unsigned:
            raise IntegrityError(f"{report.path}: refused, the package is unsigned",
                                 hint="ask the publisher to sign it (`expert-cli sign`), or pass --allow-unsigned if you trust its origin")
        return ["installing an unsigned package (--allow-unsigned)"]
    if not report.trusted:
        if not opts.trust:
            raise IntegrityError(f"{report.path}: refused, signer {report.signer[:16]} is not trusted",
                                 hint="check the key with its publisher, then `expert-cli trust add KEY.pub` or pass --trust")
        return [f"trusting signer {report.signer[:16]} (--trust)"]
    return []


def prepare(fetched: Fetched, opts: Options) -> Prepared:
    try:
        pkg = open_package(fetched.path)
    except PackageError as exc:
        # unreadable is refused like any failed integrity check (verify says the same: exit 1 either way)
        raise IntegrityError(f"refused, integrity check failed: archive: {exc.message}",
                             hint="the package was altered or damaged; get a fresh copy from its publisher") from None
    report = verify_contents(pkg, sidecar=fetched.sidecar)
    warnings = apply_policy(report, opts)
    if report.manifest is None:
        raise ManifestError(f"{fetched.source}: the package has no valid manifest.json")
    prepared = Prepared(pkg, report, report.manifest, fetched, warnings)
    base = prepared.manifest["base_models"][0]
    try:
        status = check_base_model(base["name"], base.get("sha256"))
        if status.warning:
            warnings.append(status.warning)
    except (EnvironmentProblem, IntegrityError) as exc:
        if not opts.ignore_base_model:
            raise
        warnings.append(f"{exc.message} (installed anyway: --ignore-base-model)")
    return prepared


def _incompatibility_warnings(prepared: Prepared, registry: dict[str, Any]) -> list[str]:
    mine = set((prepared.manifest.get("constraints") or {}).get("incompatible_with") or [])
    out = [f"{prepared.name} is incompatible with installed {other}: they can't be loaded together"
           for other in sorted(mine & set(registry["experts"]))]
    for other, entry in registry["experts"].items():
        record = entry.get("versions", {}).get(entry.get("current"), {})
        if prepared.name in (record.get("incompatible_with") or []) and other not in mine:
            out.append(f"installed {other} declares itself incompatible with {prepared.name}: they can't be loaded together")
    return out


def _record(prepared: Prepared, path: Path, opts: Options) -> dict[str, Any]:
    m, base = prepared.manifest, prepared.manifest["base_models"][0]
    constraints = m.get("constraints") or {}
    return {
        "path": str(path), "source": prepared.fetched.source, "source_kind": prepared.fetched.kind,
        "signer": prepared.report.signer, "trusted": prepared.report.trusted, "package_sha256": prepared.pkg.sha256,
        "base_model": base["name"], "base_model_sha256": base.get("sha256") or None,
        "requires": list(constraints.get("requires") or []), "incompatible_with": list(constraints.get("incompatible_with") or []),
        "allow_unsigned": not prepared.report.signed, "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def commit(prepared: Prepared, opts: Options) -> Path:
    """Extract and record under the registry lock; returns the install directory."""
    if opts.trust and prepared.report.signed and not prepared.report.trusted:
        import json

        from expertkit.packaging.signature import check_signature
        from expertkit.packaging.trust import add_trusted

        signer = check_signature(json.loads(prepared.pkg.files["SIGNATURE"]), prepared.pkg.files["DIGESTS"])
        add_trusted(signer.key)
    with transaction() as data:
        entry = data["experts"].setdefault(prepared.name, {"current": None, "versions": {}})
        target = version_dir(prepared.name, prepared.version)
        if prepared.version in entry["versions"] and not opts.reinstall:
            raise RegistryError(f"{prepared.name} {prepared.version} is already installed", hint="pass --force to reinstall it")
        write_contents(prepared.pkg, target, replace=opts.reinstall)
        entry["versions"][prepared.version] = _record(prepared, target, opts)
        set_current(entry, prepared.version, pin=opts.pin)
        if entry["current"] != prepared.version:
            prepared.warnings.append(f"{prepared.name} {entry['current']} stays current ({CURRENT_RULE})")
    return target


def install(source: str, opts: Options = Options()) -> InstallResult:
    """Install ``source`` (file, directory, git+URL#ref, https URL) and the dependencies it needs."""
    with tempfile.TemporaryDirectory(prefix="expert-install-") as work:
        root = prepare(fetch_source(source, Path(work)), opts)
        registry = read_registry()
        requires = list((root.manifest.get("constraints") or {}).get("requires") or [])
        plan = plan_requirements(root.name, requires, registry, opts.from_dir)
        deps = [prepare(Fetched(c.path, "file", str(c.path.resolve()), c.path.with_name(c.path.name + ".sha256")), opts)
                for c in plan.to_install]
        warnings = list(root.warnings) + _incompatibility_warnings(root, registry)
        for dep in deps:
            commit(dep, replace(opts, pin=False))
            warnings += [f"{dep.name}: {w}" for w in dep.warnings]
        seen = len(root.warnings)
        path = commit(root, opts)
        warnings += root.warnings[seen:]  # what commit noted (e.g. a newer version stays current)
    return InstallResult(root.name, root.version, path, root.report.signer, root.report.trusted or opts.trust,
                         [f"{d.name}@{d.version}" for d in deps], warnings)
