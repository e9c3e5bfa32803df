"""Which base model chat and the SDK load (runtime/launch.py), without loading it."""

from __future__ import annotations

import pytest

from expertkit.errors import CompositionError
from expertkit.runtime.launch import base_model_for


def test_nothing_installed_is_the_default_model(expert_home):
    from expertkit.models.aliases import DEFAULT_MODEL

    assert base_model_for() == DEFAULT_MODEL and base_model_for([]) == DEFAULT_MODEL
    assert base_model_for(None, "my-model") == "my-model"


def test_named_and_installed_experts_bring_their_base(tmp_path, tiny_llama_dir, monkeypatch):
    from tests.runtime.chat_builders import chat_home

    home = chat_home(tmp_path, tiny_llama_dir)
    monkeypatch.setenv("EXPERT_HOME", str(home))
    assert base_model_for("expert-sql+expert-json").name == str(tiny_llama_dir)
    assert base_model_for(None).name == str(tiny_llama_dir)  # the first installed expert's base
    assert base_model_for(None, "other") == "other"
    with pytest.raises(CompositionError, match="expert-nope is not installed"):
        base_model_for("expert-nope")
