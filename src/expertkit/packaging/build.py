"""`package`: turn an expert directory + a trained adapter into a deterministic `.expert` file.

Members (see DESIGN.md): manifest.json (filtered to one base model, adapters[0] filled),
adapter_config.json, adapter_model.safetensors, soft_prompts/*.safetensors, grammar.gbnf,
README.md, LICENSE, tests/test_cases.json (with include_tests), routing/ (example embeddings for
the router, when the expert has a training split; see routing_member.py) and DIGESTS. The source
manifest then gets the same adapters[0] (with its real path) and training.packaging_checkpoint.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import PackageError
from expertkit.manifest.checks import SOFT_PROMPT_CONVERSION
from expertkit.manifest.layout import GRAMMAR_NAME, default_adapter_dir, grammar_path, package_path, pick_base_model
from expertkit.manifest.loader import LoadedManifest, load_manifest, migrate
from expertkit.manifest.rewrite import adapters_list, base_model_entry, set_path, update_manifest
from expertkit.packaging.adapter_info import AdapterInfo, read_adapter, refuse_pickle
from expertkit.packaging.archive import write_archive
from expertkit.packaging.digests import DIGESTS_NAME, SIGNATURE_NAME, render_digests, sha256_bytes
from expertkit.packaging.reader import ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, MANIFEST_NAME, PICKLE_SUFFIXES
from expertkit.packaging.tensor_check import check_members

TEST_CASES = "tests/test_cases.json"


@dataclass
class BuildResult:
    path: Path
    sha256: str
    size_bytes: int
    members: dict[str, int]  # name -> size
    adapter: AdapterInfo
    base_model: str
    warnings: list[str] = field(default_factory=list)


def _relative(path: Path, base: Path) -> str:
    """Path as recorded in the manifest: always relative to the manifest dir (POSIX), so the expert dir can move."""
    path, base = path.resolve(), base.resolve()
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path)


def _check_writable(out: Path, manifest: Path | None, force: bool) -> None:
    """Everything `package` will write can be written, and nothing signed is silently replaced; checked first."""
    if out.is_dir():
        raise PackageError(f"{out}: is a directory", hint="give --output a file name ending in .expert")
    if out.is_file() and not force:
        from expertkit.packaging.reader import open_package

        try:
            signed = SIGNATURE_NAME in open_package(out).files
        except PackageError:
            signed = False
        if signed:
            raise PackageError(f"{out}: already holds a signed package; building would replace it with an unsigned one",
                               hint="pass --force to replace it (then sign again), or choose another --output")
    folder = next((p for p in [out.parent, *out.parent.parents] if p.exists()), Path("."))
    targets = [(folder, "the output folder")]
    if manifest is not None:
        targets += [(manifest.parent, "the manifest's folder (manifest.json is rewritten)")]
    for path, what in targets:
        if not os.access(path, os.W_OK | os.X_OK):
            raise PackageError(f"{path}: {what} is not writable; nothing was written", hint="fix its permissions or choose another --output")


def _extra_files(loaded: LoadedManifest, include_tests: bool) -> dict[str, Path]:
    """Package member name -> source file, for everything but the manifest and the adapter."""
    m, out = loaded.model, {}
    for i, sp in enumerate(m.soft_prompts):
        if not sp.path:
            continue
        src = loaded.resolve(sp.path)
        if src.suffix.lower() in PICKLE_SUFFIXES or src.suffix.lower() != ".safetensors":
            raise PackageError(f"soft_prompts[{i}].path: {sp.path} is not a .safetensors file (pickle files are refused)",
                               hint=f"convert it (tensors only, no code runs): {SOFT_PROMPT_CONVERSION}")
        out[f"soft_prompts/{src.name}"] = src
    grammar = grammar_path(m, loaded.base_dir)
    if grammar is not None and grammar.is_file():
        out[GRAMMAR_NAME] = grammar
    for name in ("README.md", "LICENSE"):
        if loaded.resolve(name).is_file():
            out[name] = loaded.resolve(name)
    if include_tests:
        cases = loaded.resolve(TEST_CASES)
        if not cases.is_file():
            raise PackageError(f"--include-tests: {cases} not found", hint="write tests/test_cases.json, or drop --include-tests")
        out[TEST_CASES] = cases
    return out


def _routing_files(loaded: LoadedManifest, embedder: Any, warnings: list[str]) -> dict[str, bytes]:
    """routing/ members from the training split; none (the router uses the manifest alone) without one."""
    from expertkit.packaging.digests import sha256_file
    from expertkit.packaging.routing_member import build_routing_members, description_text, split_prompts

    m = loaded.model
    split = loaded.resolve(m.training.dataset.path)
    if not split.is_file():
        return {}
    prompts = split_prompts(split)
    if not prompts:
        warnings.append(f"{m.training.dataset.path}: no user prompts; the package routes by its manifest only")
        return {}
    if embedder is None or isinstance(embedder, str | Path):
        from expertkit.errors import ExpertError
        from expertkit.models.embedding import load_embedder

        try:
            embedder = load_embedder(embedder)
        except ExpertError as exc:
            warnings.append(f"no routing examples in the package ({exc.message}); it routes by its manifest only")
            return {}
    hint = m.routing.router_hint if m.routing else None
    return build_routing_members(prompts, description_text(m.description, hint), embedder,
                                 source=m.training.dataset.path, source_sha256=sha256_file(split))


def _base_digest(entry: dict[str, Any], warnings: list[str]) -> None:
    """Record the base model's digest in the package when the manifest leaves it empty, so install can check it."""
    if entry.get("sha256"):
        return
    try:
        from expertkit.models.digest import model_digest
        from expertkit.models.resolve import resolve_model

        entry["sha256"] = model_digest(resolve_model(entry["name"], prepare=False).path)
    except Exception as exc:  # noqa: BLE001 - a missing model only means the digest stays unrecorded
        warnings.append(f"base model {entry['name']!r}: digest not recorded in the package ({getattr(exc, 'message', exc)})")


def packaged_manifest(loaded: LoadedManifest, model_name: str, adapter: AdapterInfo, weights_rel: str,
                      extra: dict[str, Path], warnings: list[str]) -> dict[str, Any]:
    """The manifest.json inside the package: one base model, adapters[0] pointing at the package root."""
    raw, _, problems = migrate(copy.deepcopy(loaded.raw))
    if problems:
        raise PackageError(f"{loaded.path}: {problems[0]}")
    entry = base_model_entry(raw, model_name)
    raw["base_models"] = [entry]
    adapters = entry.setdefault("adapters", [])
    filled = adapter.manifest_entry(".")  # the adapter files sit at the package root
    if adapters and isinstance(adapters[0], dict):
        adapters[0].update(filled)
        del adapters[1:]
    else:
        entry["adapters"] = [filled]
    _base_digest(entry, warnings)
    set_path(raw, "training.packaging_checkpoint", weights_rel)
    for sp in raw.get("soft_prompts") or []:
        if isinstance(sp, dict) and sp.get("path"):
            sp["path"] = f"soft_prompts/{Path(sp['path']).name}"
    if GRAMMAR_NAME in extra and (raw.get("training", {}).get("decoding") or {}).get("grammar_file"):
        set_path(raw, "training.decoding.grammar_file", GRAMMAR_NAME)
    return raw


def _check_adapter_type(loaded: LoadedManifest, adapter: AdapterInfo, warnings: list[str]) -> None:
    wanted = loaded.model.training.config.adapter_type
    if adapter.type != wanted:
        warnings.append(f"adapter is {adapter.type} but training.config.adapter_type is {wanted}")


def _update_source(loaded: LoadedManifest, model_name: str, adapter: AdapterInfo, weights_rel: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        adapters = adapters_list(raw, model_name)
        filled = adapter.manifest_entry(weights_rel)
        if adapters and isinstance(adapters[0], dict):
            adapters[0].update(filled)
        else:
            adapters[:1] = [filled]
        set_path(raw, "training.packaging_checkpoint", weights_rel)

    update_manifest(loaded.path, edit)


def build_package(manifest: str | Path, *, weights: str | Path | None = None, output: str | Path | None = None,
                  model: str | None = None, include_tests: bool = False, update_source: bool = True,
                  routing: bool = True, embedder: Any = None, force: bool = False) -> BuildResult:
    """Build the package; returns where it is and what is in it. Raises PackageError/ManifestError.

    ``embedder`` computes the routing/ examples: a loaded embedder, a name for `load_embedder`, or
    None for the default; ``routing=False`` leaves routing/ out. ``force`` replaces an existing
    signed package at the output path (refused otherwise).
    """
    loaded = load_manifest(manifest)
    spec = pick_base_model(loaded, model)
    weights_dir = Path(weights) if weights else default_adapter_dir(loaded, spec.name)
    refuse_pickle(weights_dir)
    adapter = read_adapter(weights_dir)
    warnings: list[str] = []
    _check_adapter_type(loaded, adapter, warnings)
    weights_rel = _relative(weights_dir, loaded.base_dir)
    extra = _extra_files(loaded, include_tests)
    raw = packaged_manifest(loaded, spec.name, adapter, weights_rel, extra, warnings)
    files: dict[str, bytes] = {MANIFEST_NAME: (json.dumps(raw, indent=2, ensure_ascii=False) + "\n").encode("utf-8")}
    files[ADAPTER_CONFIG_NAME] = (weights_dir / ADAPTER_CONFIG_NAME).read_bytes()
    files[ADAPTER_WEIGHTS_NAME] = (weights_dir / ADAPTER_WEIGHTS_NAME).read_bytes()
    if sha256_bytes(files[ADAPTER_WEIGHTS_NAME]) != adapter.sha256:
        raise PackageError(f"{weights_dir}: adapter weights changed while packaging; try again")
    for name, src in extra.items():
        files[name] = src.read_bytes()
    check_members(files, str(weights_dir / ADAPTER_WEIGHTS_NAME))  # a truncated or mismatched adapter is never packaged
    if routing:
        files.update(_routing_files(loaded, embedder, warnings))
    files[DIGESTS_NAME] = render_digests(files)
    out = Path(output) if output else package_path(loaded, spec.name)
    _check_writable(out, loaded.path if update_source else None, force)
    data = write_archive(out, files)
    from expertkit.packaging.signing import write_sidecar

    write_sidecar(out, data)  # keeps `sha256sum -c` right for unsigned packages and drops a stale one
    if update_source:
        _update_source(loaded, spec.name, adapter, weights_rel)
    return BuildResult(out, sha256_bytes(data), len(data), {n: len(d) for n, d in sorted(files.items())}, adapter, spec.name, warnings)
