"""Where an adapter comes from: a PEFT directory, or an `.expert` package read via a temp dir.

The engine only ever sees a PEFT directory; this seam turns whatever the user named into one
(and cleans up after itself). Packages are read by `expertkit.packaging` (digests checked,
unsafe members refused there); runtime never parses tar files itself.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError

PACKAGE_SUFFIX = ".expert"
ADAPTER_CONFIG = "adapter_config.json"
_CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)$")


@dataclass
class AdapterSource:
    """A PEFT adapter directory ready to load, plus what came with it."""

    path: Path  # directory with adapter_config.json
    origin: Path  # what the user named (directory or .expert file)
    kind: str  # "dir" | "package"
    package_manifest: dict[str, Any] | None = None  # manifest.json inside a package
    grammar_file: Path | None = None  # grammar.gbnf inside a package
    _tmp: Any = field(default=None, repr=False)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> AdapterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def checkpoint_step(self) -> int | None:
        """The step in a `checkpoint-N` name, or the packaged adapter's recorded step."""
        match = _CHECKPOINT_RE.search(self.origin.name)
        if match:
            return int(match.group(1))
        if self.package_manifest:
            for bm in self.package_manifest.get("base_models") or []:
                for ad in bm.get("adapters") or []:
                    if isinstance(ad, dict) and isinstance(ad.get("checkpoint_step"), int):
                        return ad["checkpoint_step"]
        return None


def open_adapter(path: str | Path) -> AdapterSource:
    """An `AdapterSource` for a PEFT directory or an `.expert` file; errors name the path."""
    origin = Path(path).expanduser()
    if origin.is_file() and origin.name.endswith(PACKAGE_SUFFIX):
        return _from_package(origin)
    if origin.is_dir():
        _require_peft_dir(origin, origin)
        return AdapterSource(origin.resolve(), origin, "dir")
    if not origin.exists():
        raise UsageError(
            f"adapter {origin} not found",
            hint="name weights/<model>/final (written by `expert-cli train`) or a .expert package",
        )
    raise UsageError(f"adapter {origin} is neither a directory nor a {PACKAGE_SUFFIX} package")


def _require_peft_dir(directory: Path, origin: Path) -> None:
    if not (directory / ADAPTER_CONFIG).is_file():
        raise UsageError(
            f"adapter {origin} has no {ADAPTER_CONFIG} (not a PEFT adapter directory)",
            hint="point at weights/<model>/final or weights/<model>/checkpoint-N",
        )


def _from_package(origin: Path) -> AdapterSource:
    tmp = tempfile.TemporaryDirectory(prefix="expertkit-adapter-")
    try:
        dest = Path(tmp.name) / "package"  # the reader wants a new directory
        extract_package(origin, dest)
        _require_peft_dir(dest, origin)
        manifest = None
        if (dest / "manifest.json").is_file():
            manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
        grammar = dest / "grammar.gbnf"
        return AdapterSource(dest, origin, "package", manifest, grammar if grammar.is_file() else None, tmp)
    except BaseException:
        tmp.cleanup()
        raise


def extract_package(package: Path, dest: Path) -> None:
    """Extract ``package`` into the new directory ``dest`` with the packaging reader.

    The reader refuses unsafe members and members whose digests don't match DIGESTS; signature
    and trust are the registry's business (testing an unsigned local package is normal).
    """
    from expertkit.packaging.verify import extract_package as _extract

    _extract(package, dest, verify=True)
