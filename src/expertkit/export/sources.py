"""What an export names, made concrete: an installed NAME[@VERSION], a `.expert` file, or an
expert directory becomes one `ExportSource` (its manifest, its PEFT adapter directory, its
grammar), read through the same manifest loader, registry lookup and package reader as every
other command."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError
from expertkit.manifest.layout import default_adapter_dir, grammar_path, pick_base_model
from expertkit.manifest.loader import LoadedManifest, load_manifest
from expertkit.manifest.model import BaseModelSpec
from expertkit.runtime.adapter_source import ADAPTER_CONFIG, PACKAGE_SUFFIX, AdapterSource, open_adapter


@dataclass
class ExportSource:
    """One expert to export: who it is, which adapter, which base model, which grammar."""

    name: str
    version: str
    origin: str  # what the user named
    loaded: LoadedManifest
    adapter_dir: Path
    base: BaseModelSpec
    _adapter: AdapterSource | None = field(default=None, repr=False)

    @property
    def adapter_config(self) -> dict[str, Any]:
        return json.loads((self.adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))

    @property
    def grammar_file(self) -> Path | None:
        path = grammar_path(self.loaded.model, self.loaded.base_dir)
        return path if path is not None and path.is_file() else None

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None


def open_source(text: str, model: str | None = None) -> ExportSource:
    """The expert ``text`` names: an existing path (directory or .expert file), else NAME[@VERSION]."""
    path = Path(text).expanduser()
    if path.is_file() and path.name.endswith(PACKAGE_SUFFIX):
        adapter = open_adapter(path)  # extracted to a temp dir, digests checked
        try:
            return _from_dir(adapter.path, text, model, adapter)
        except BaseException:
            adapter.close()
            raise
    if path.is_dir():
        return _from_dir(path, text, model)
    if path.exists() or "/" in text or text.endswith(PACKAGE_SUFFIX):
        raise UsageError(f"{text}: not an expert directory or a {PACKAGE_SUFFIX} package",
                         hint="name an installed expert NAME[@VERSION], a .expert file or a directory with manifest.json")
    from expertkit.registry.refs import parse_ref, resolve_ref
    from expertkit.registry.store import read_registry

    _, record = resolve_ref(read_registry(), parse_ref(text))
    return _from_dir(Path(record["path"]), text, model)


def _from_dir(directory: Path, origin: str, model: str | None, adapter: AdapterSource | None = None) -> ExportSource:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise UsageError(f"{origin}: no manifest.json in {directory}", hint="name the expert directory (where manifest.json is)")
    loaded = load_manifest(manifest, check_files=False)
    base = pick_base_model(loaded, model)
    # installed or packaged experts keep the adapter beside the manifest; a source tree in weights/
    adapter_dir = directory if (directory / ADAPTER_CONFIG).is_file() else default_adapter_dir(loaded, base.name)
    if not (adapter_dir / ADAPTER_CONFIG).is_file():
        raise UsageError(f"{origin}: no trained adapter at {adapter_dir}",
                         hint="train it first (`expert-cli train`) or set training.packaging_checkpoint")
    return ExportSource(loaded.model.name, loaded.model.version, origin, loaded, adapter_dir.resolve(), base, adapter)
