"""Trained experts shared by the export tests (one short training run per method per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.export.builders import trained_expert


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny matmuls on a shared 2-core machine: extra threads only spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def trained(tiny_llama_dir, tmp_path_factory):
    """trained(method, name=...) -> expert dir; each (method, name) is trained once per session."""
    cache: dict[tuple[str, str], Path] = {}

    def get(method: str, name: str | None = None) -> Path:
        name = name or f"expert-{method.replace('_', '-')}"
        if (method, name) not in cache:
            cache[(method, name)] = trained_expert(tmp_path_factory.mktemp(name), tiny_llama_dir, method, name=name)
        return cache[(method, name)]

    return get
