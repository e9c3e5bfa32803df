"""The router's embedder on the tiny model: one text and a padded batch agree; int8 keeps the vectors."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def embedders(tiny_llama_dir):
    from expertkit.models.embedding import load_embedder

    return load_embedder(tiny_llama_dir), load_embedder(tiny_llama_dir, quantize=True)


def test_a_single_text_embeds_as_in_a_padded_batch(embedders):
    fp32, _ = embedders
    short, long = "How many books?", "List every book published after 1950 with its author and genre, newest first."
    alone = fp32.embed([short])
    batch = fp32.embed([short, long])  # `short` padded, with a mask; alone it runs without one
    assert np.allclose(alone[0], batch[0], atol=1e-4)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_int8_embedder_keeps_the_id_and_nearly_the_vectors(embedders):
    fp32, int8 = embedders
    texts = ["How many books?", "Write a haiku about the sea.", "Extract the name: Ana Lima wrote to us."]
    assert int8.id == fp32.id and int8.quantized and not fp32.quantized
    cosines = (fp32.embed(texts) * int8.embed(texts)).sum(axis=1)
    assert cosines.min() > 0.95, cosines


def test_max_tokens_cuts_the_text(tiny_llama_dir):
    from expertkit.models.embedding import load_embedder

    short = load_embedder(tiny_llama_dir, max_tokens=4)
    long_text = "one two three four five six seven eight nine ten"
    assert np.allclose(short.embed([long_text]), short.embed([long_text + " eleven twelve"]), atol=1e-5)
