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


@pytest.fixture
def signing_key(tmp_path) -> Path:
    """A key pair whose public half is in this test's trusted_keys; returns the private key path."""
    from expertkit.packaging.keys import generate_keypair
    from expertkit.packaging.trust import add_trusted_file

    pair = generate_keypair(tmp_path / "keys" / "publisher")
    add_trusted_file(pair.public_path)
    return pair.private_path


@pytest.fixture
def make_package(tmp_path, tiny_llama_dir, lora_adapter_dir):
    """make_package(name, version=..., key=..., requires=[...], out_dir=...) -> path of a .expert file."""
    from tests.packaging.expert_builders import build_expert

    def make(name: str, **kw) -> Path:
        return build_expert(tmp_path / "src", name, tiny_llama_dir, lora_adapter_dir, **kw)

    return make
