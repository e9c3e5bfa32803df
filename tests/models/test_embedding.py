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


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT encoder with a word-piece vocabulary: the sentence-model path (traced at request time)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path = tmp_path_factory.mktemp("tiny_bert")
    words = "how many books were published after the year list every author and genre sea haiku a write".split()
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, ",", "?", "."]) + "\n")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(str(path))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words) + 8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(path))
    return path


def test_a_traced_encoder_gives_the_eager_vectors_at_every_length(tiny_bert_dir):
    from expertkit.models.embedding import load_embedder

    eager, traced = load_embedder(tiny_bert_dir, quantize=True), load_embedder(tiny_bert_dir, quantize=True, trace=True)
    assert traced.traced is not None and traced.trace_note is None and eager.traced is None
    assert traced.id == eager.id  # same weights: the vectors stored at package time still apply
    words = "how many books were published after the year list every author and genre".split()
    texts = ["", "sea", *[" ".join(words[:n]) for n in (3, 7, len(words))], " ".join(words * 6)]  # the last one is cut
    # text by text: in a padded batch int8's activation scales see the other rows
    assert np.allclose(traced.embed(texts), np.concatenate([eager.embed([t]) for t in texts]), atol=1e-5)


def test_only_encoders_are_traced_and_a_failed_trace_keeps_the_eager_forward(tiny_llama_dir, tiny_bert_dir, monkeypatch):
    import torch

    from expertkit.models.embedding import load_embedder

    llama = load_embedder(tiny_llama_dir, trace=True)
    assert llama.traced is None and "not traced" in llama.trace_note
    assert np.allclose(llama.embed(["How many books?"]), load_embedder(tiny_llama_dir).embed(["How many books?"]), atol=1e-6)

    def broken(*args, **kwargs):
        raise RuntimeError("tracer gone")

    monkeypatch.setattr(torch.jit, "trace", broken)
    bert = load_embedder(tiny_bert_dir, trace=True)
    assert bert.traced is None and bert.trace_note.startswith("trace failed: RuntimeError: tracer gone")
    assert bert.embed(["how many books"]).shape == (1, 32)


def test_loading_and_tracing_print_nothing(tiny_bert_dir, tmp_path, capfd):
    """The library must not print: no "Loading weights" bar, no transformers log line from the trace
    (all-MiniLM-L6-v2's config has `loss_type: null`, which transformers logs when tracing reads it)."""
    import json
    import shutil

    from transformers.utils import logging as hf_logging

    from expertkit.models.embedding import load_embedder

    model = shutil.copytree(tiny_bert_dir, tmp_path / "bert")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "loss_type": None}))
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()  # as in a user's shell (the test session turns bars off)
    try:
        capfd.readouterr()
        load_embedder(model, quantize=True, trace=True)
        out, err = capfd.readouterr()
        restored = hf_logging.is_progress_bar_enabled()
    finally:
        if not bars:
            hf_logging.disable_progress_bar()
    assert out == "" and err == "", (out, err)
    assert restored
