"""EXPERT_HOME (default ~/.expert) and its layout, in one place: models, packaging and registry all use it."""

from __future__ import annotations

import os
from pathlib import Path


def expert_home() -> Path:
    return Path(os.environ.get("EXPERT_HOME") or Path.home() / ".expert").expanduser()


def models_dir() -> Path:
    return expert_home() / "models"


def experts_dir() -> Path:
    return expert_home() / "experts"


def registry_file() -> Path:
    return expert_home() / "registry.json"


def keys_dir() -> Path:
    return expert_home() / "keys"


def trusted_keys_dir() -> Path:
    return expert_home() / "trusted_keys"
