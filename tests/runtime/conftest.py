"""Fixtures for runtime and evaluation tests: a real random LoRA adapter on the tiny Llama."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.expert_factory import make_lora


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny matmuls on a shared 2-core machine: extra threads only spin (50x slower under load).

    Set per test and restored, so nothing leaks into other test directories.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_adapter(tiny_llama_dir, tmp_path_factory) -> Path:
    return make_lora(tiny_llama_dir, tmp_path_factory.mktemp("adapter") / "lora", seed=1)


@pytest.fixture(scope="session")
def tiny_engine(tiny_llama_dir, tiny_adapter, tmp_path_factory):
    """One loaded engine (base + adapter) shared by read-only generation tests."""
    from expertkit.manifest.model import model_slug
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_expert

    root = make_expert(tmp_path_factory.mktemp("engine_expert"), tiny_llama_dir, tiny_adapter,
                       grammar='root ::= "SELECT " [a-z]{1,4} " FROM " ("users" | "orders") ";"\n')
    engine = InferenceEngine.from_manifest(root / "manifest.json", root / "weights" / model_slug(str(tiny_llama_dir)) / "final")
    yield engine
    engine.close()
