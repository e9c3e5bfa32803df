"""Evaluation tests share the runtime fixtures (a random LoRA on the tiny Llama, one engine)."""

from tests.runtime.conftest import one_torch_thread, tiny_adapter, tiny_engine  # noqa: F401
