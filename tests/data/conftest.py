"""Fixtures for the data tests: a minimal expert directory with raw files and a manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.data.builders import base_manifest, write_jsonl


@pytest.fixture
def make_expert(tmp_path) -> Callable[..., Path]:
    """make_expert(raw={"a.jsonl": rows}, dataset={...}) -> manifest path in a fresh expert dir."""
    counter = {"n": 0}

    def make(raw: dict[str, Any] | None = None, dataset: dict[str, Any] | None = None, **kwargs: Any) -> Path:
        counter["n"] += 1
        root = tmp_path / f"expert{counter['n']}"
        (root / "datasets" / "raw").mkdir(parents=True)
        for name, content in (raw or {}).items():
            target = root / "datasets" / "raw" / name
            if isinstance(content, bytes):
                target.write_bytes(content)
            elif isinstance(content, str):
                target.write_text(content, encoding="utf-8")
            else:
                write_jsonl(target, content)
        manifest = root / "manifest.json"
        manifest.write_text(json.dumps(base_manifest(dataset, **kwargs), indent=2) + "\n", encoding="utf-8")
        return manifest

    return make
