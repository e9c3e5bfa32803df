"""The manifest: model, loader, semantic checks, preserving rewriter, JSON Schema."""

from expertkit.manifest.loader import LoadedManifest, load_manifest, parse_manifest
from expertkit.manifest.model import Manifest, model_slug
from expertkit.manifest.problems import Problem
from expertkit.manifest.rewrite import update_manifest

__all__ = ["LoadedManifest", "Manifest", "Problem", "load_manifest", "model_slug", "parse_manifest", "update_manifest"]
