"""Read a `.expert` package safely: the API other layers (registry, runtime, test) use.

    from expertkit.packaging.reader import open_package
    from expertkit.packaging.verify import extract_package

    pkg = open_package("x.v0.1.0.expert")    # PackageContents, fully in memory, every member checked
    pkg.manifest                               # dict: the packaged manifest.json
    pkg.names / pkg.files["adapter_model.safetensors"]   # member names / bytes
    pkg.digests                                # {name: sha256} from DIGESTS ({} when absent)
    pkg.signature                              # parsed SIGNATURE dict or None
    pkg.sha256                                 # sha256 of the whole .expert file
    extract_package("x.v0.1.0.expert", dest)   # -> dest (new dir): manifest.json, adapter_config.json,
                                               #    adapter_model.safetensors, ... ; PEFT loads `dest`

`open_package` only checks the archive's shape (safe names, regular files/dirs, caps; see
`safe_extract`). It does NOT check digests or signatures: call
`expertkit.packaging.verify.verify_contents(pkg)` (or `verify_package(path)`) for that.
`verify.extract_package(path, dest, verify=True)` refuses a package whose member digests don't
match DIGESTS (signature/trust policy is the registry's business). This module never imports
`verify` (verify reads packages through it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import PackageError
from expertkit.packaging.digests import DIGESTS_NAME, SIGNATURE_NAME, parse_digests, sha256_bytes
from expertkit.packaging.safe_extract import DEFAULT_LIMITS, Limits, Member, read_members, write_members

MANIFEST_NAME = "manifest.json"
ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass
class PackageContents:
    """A package read into memory; ``members`` keeps archive order (directories included)."""

    path: Path | None
    sha256: str
    size_bytes: int
    members: list[Member]
    files: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.files = {m.name: m.data for m in self.members if m.kind == "file"}

    @property
    def names(self) -> list[str]:
        return list(self.files)

    @property
    def manifest(self) -> dict[str, Any]:
        return _json_member(self.files, MANIFEST_NAME)

    @property
    def digests(self) -> dict[str, str]:
        data = self.files.get(DIGESTS_NAME)
        return {} if data is None else parse_digests(data)

    @property
    def signature(self) -> dict[str, Any] | None:
        return _json_member(self.files, SIGNATURE_NAME) if SIGNATURE_NAME in self.files else None

    @property
    def label(self) -> str:
        return str(self.path) if self.path else "<package>"


def _json_member(files: dict[str, bytes], name: str) -> Any:
    if name not in files:
        raise PackageError(f"package has no {name}", hint="build it with `expert-cli package`")
    try:
        return json.loads(files[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"package member {name} is not valid JSON: {exc}") from None


def read_package_bytes(data: bytes, *, path: Path | None = None, limits: Limits = DEFAULT_LIMITS) -> PackageContents:
    members = read_members(data, limits)
    for m in members:
        if m.kind == "file" and m.name.lower().endswith(PICKLE_SUFFIXES):
            raise PackageError(f"refused member {m.name!r}: pickle files can run code when loaded; packages carry safetensors only")
    return PackageContents(path, sha256_bytes(data), len(data), members)


def open_package(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> PackageContents:
    """Read and shape-check the package at ``path`` (reads the file once; see module docstring)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PackageError(f"{path}: file not found") from None
    if path.is_dir():
        raise PackageError(f"{path}: is a directory, not a .expert file",
                           hint="give the .expert file (`expert-cli package` writes one); install also takes an expert directory")
    if size > limits.max_total_bytes:
        raise PackageError(f"{path}: {size} bytes is over the {limits.max_total_bytes}-byte cap")
    try:
        return read_package_bytes(path.read_bytes(), path=path, limits=limits)
    except PackageError as exc:
        raise PackageError(f"{path}: {exc.message}", hint=exc.hint) from None


def write_contents(pkg: PackageContents, dest: str | Path, *, replace: bool = False) -> Path:
    """Write an already-read (and, by the caller, verified) package into the new directory ``dest``."""
    return write_members(pkg.members, dest, replace=replace)
