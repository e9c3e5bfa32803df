"""JSON Schema (draft 2020-12) generated from the manifest model, so it can't drift from it."""

from __future__ import annotations

from typing import Any

from expertkit.manifest.model import Manifest

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def manifest_json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(mode="validation")
    return {
        "$schema": DIALECT,
        "$id": "https://expertkit.dev/schemas/expert-manifest.schema.json",
        "title": "expertkit expert manifest",
        **{k: v for k, v in schema.items() if k != "title"},
    }
