"""Scaffolding for `expert-cli new`: the guide's directory tree and a manifest valid as created."""

from expertkit.scaffold.create import ScaffoldResult, create_expert, normalize_name
from expertkit.scaffold.manifest import ADAPTER_TYPES, DEFAULT_BASE_MODEL, scaffold_manifest

__all__ = ["ADAPTER_TYPES", "DEFAULT_BASE_MODEL", "ScaffoldResult", "create_expert", "normalize_name", "scaffold_manifest"]
