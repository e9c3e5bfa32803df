"""`expert-cli models import PATH [--name NAME]`: register a local model under a name.

A Hugging Face model directory is *referenced* by default (its absolute path is recorded):
base models are large (Qwen3-0.6B is ~1.2 GB) and usually already live somewhere the user
manages; `copy=True` copies it into ``$EXPERT_HOME/models/<slug>/`` when the original may move.
Either way its digest is recorded, and `models list` shows it as not ready if the path vanishes.
A ``.gguf`` file is always converted (dequantized, float32) into ``$EXPERT_HOME/models/<slug>/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError, ValidationError
from expertkit.home import models_dir
from expertkit.manifest.model import model_slug
from expertkit.models.aliases import ALIASES, find_alias, is_ready, record_model
from expertkit.models.digest import weight_files
from expertkit.models.gguf import TEMP_PREFIX, Progress, check_gguf, clean_stale_temps, convert_gguf, replace_dir
from expertkit.models.index import lock, read_index
from expertkit.models.inventory import dir_facts

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_model_dir(path: Path) -> None:
    """A usable HF model dir has config.json, weights and tokenizer files; ValidationError names what is missing."""
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not weight_files(path):
        missing.append("*.safetensors weights")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json / tokenizer_config.json)")
    if missing:
        raise ValidationError(
            f"{path}: not a Hugging Face model directory (missing {', '.join(missing)})",
            hint="give a directory saved with save_pretrained (config.json, *.safetensors, tokenizer files) or a .gguf file",
        )


def import_dir(name: str) -> Path:
    """Where a converted/copied import named ``name`` lives: ``models/<slug>`` with only [a-z0-9-]."""
    slug = re.sub(r"[^a-z0-9-]+", "-", model_slug(name)).strip("-") or "model"
    return models_dir() / slug


def _check_dest_free(name: str, dest: Path) -> None:
    for other, entry in read_index()["models"].items():
        if other != name and Path(entry.get("path", "")) == dest:
            raise UsageError(f"--name {name!r} would share the directory {dest} with the model {other!r}", hint="choose another --name")


def _check_name(name: str, force: bool) -> None:
    if not name.strip() or name.startswith("."):
        raise UsageError(f"{name!r}: a model name must be non-empty and not start with '.'", param="name")
    if find_alias(name) or find_alias(model_slug(name)) or import_dir(name).name in ALIASES:
        raise UsageError(f"--name {name!r} is a built-in alias", hint="choose another name with --name")
    if name in read_index()["models"] and not force:
        raise UsageError(f"a model named {name!r} is already imported", hint="pass --force to replace it, or choose another --name")


def import_model(
    path: str | Path, name: str | None = None, *, copy: bool = False, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Register ``path`` (HF model dir or .gguf file) as ``name``; returns the index entry (with ``name``)."""
    src = Path(path).expanduser()
    if not src.exists():
        raise UsageError(f"{src}: no such file or directory", hint="give a Hugging Face model directory or a .gguf file")
    src = src.resolve()
    is_gguf = src.is_file() and src.suffix.lower() == ".gguf"
    if not is_gguf and not src.is_dir():
        raise UsageError(f"{src}: expected a model directory or a .gguf file")
    name = name or (src.stem if is_gguf else src.name)
    _check_name(name, force)
    dest = import_dir(name)
    if is_gguf or copy:
        _check_dest_free(name, dest)
    if is_gguf:
        check_gguf(src)  # before the lock: a bad file leaves nothing in models/
        with lock(dest.name):
            clean_stale_temps(dest.parent, dest.name)
            facts = convert_gguf(src, dest, progress=progress)
            entry = record_model(name, dest, source="imported", kind="converted", origin=str(src), facts=facts)
    else:
        check_model_dir(src)
        target = src
        if copy:
            with lock(dest.name):
                target = _copy_dir(src, dest)
        entry = record_model(name, target, source="imported", kind="copied" if copy else "referenced", origin=str(src), facts=dir_facts(target))
    return {"name": name, **entry}


def _copy_dir(src: Path, dest: Path) -> Path:
    tmp = dest.with_name(f"{TEMP_PREFIX}{dest.name}-copy")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(src, tmp, symlinks=False)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not is_ready(dest):
        raise ValidationError(f"{dest}: copied model is incomplete")
    return dest
