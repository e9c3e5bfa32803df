"""Fixtures for packaging tests: one real LoRA adapter per session, a fresh expert dir per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.expert_builders import make_expert_dir, make_lora_adapter


@pytest.fixture(scope="session")
def lora_adapter_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    return make_lora_adapter(tiny_llama_dir, tmp_path_factory.mktemp("lora") / "adapter")


@pytest.fixture
def expert_dir(tmp_path, tiny_llama_dir, lora_adapter_dir) -> Path:
    return make_expert_dir(tmp_path / "expert-demo", "expert-demo", tiny_llama_dir, lora_adapter_dir)
