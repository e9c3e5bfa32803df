"""Scaffolding for `expert-cli new`: the guide's directory tree and a manifest valid as created.

Names load on first use: `expert-cli --help` needs DEFAULT_BASE_MODEL, not the manifest model.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"ScaffoldResult": "create", "create_expert": "create", "normalize_name": "create",
          "ADAPTER_TYPES": "manifest", "DEFAULT_BASE_MODEL": "manifest", "scaffold_manifest": "manifest"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'expertkit.scaffold' has no attribute {name!r}")
    return getattr(importlib.import_module(f"expertkit.scaffold.{_HOMES[name]}"), name)
