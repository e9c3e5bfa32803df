"""Convert a GGUF file into a plain safetensors model directory, once, atomically.

transformers reads GGUF (``from_pretrained(dir, gguf_file=...)``, via the ``gguf`` package) and
dequantizes to float32, but leaves the model marked as GGUF-quantized, and ``save_pretrained``
refuses such a model; we clear that state because the tensors really are plain fp32 after
loading. The result is written into a temp dir beside the destination and renamed into place,
so a killed conversion leaves only a ``.tmp-*`` dir that never counts as a ready model.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from expertkit.errors import EnvironmentProblem, ValidationError

Progress = Callable[[str, int, int], None]  # (step description, step number from 1, total steps)
TEMP_PREFIX = ".tmp-"
STEPS = 5


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Mute transformers' tqdm bars (dequantizing, "Loading weights"): the library must not print.

    The GGUF reader calls ``tqdm`` directly (no global switch covers it), so its module attribute is
    swapped for a disabled one while the block runs; both switches are restored after.
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original
        if was_enabled:
            hf_logging.enable_progress_bar()


def _clear_gguf_quantization(model: Any) -> None:
    # The weights are dequantized fp32 tensors now; only the bookkeeping still says "gguf".
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.config.name_or_path = ""


def _stop_at_im_end(model: Any, tokenizer: Any) -> None:
    """ChatML models must stop generating at `<|im_end|>`: make it the eos of tokenizer and generation config."""
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if not isinstance(im_end, int) or im_end == tokenizer.unk_token_id:
        return
    tokenizer.eos_token = "<|im_end|>"
    model.config.eos_token_id = im_end
    model.generation_config.eos_token_id = im_end
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else im_end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _load_gguf(gguf_file: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32)
    except ImportError as exc:
        raise EnvironmentProblem(f"reading GGUF needs the `gguf` package ({exc})", hint="pip install gguf") from exc
    except (ValueError, KeyError, RuntimeError, struct.error, IndexError) as exc:
        raise ValidationError(
            f"{gguf_file}: transformers cannot convert this GGUF file ({exc})",
            hint="import a Hugging Face model directory instead, or a GGUF of a supported architecture (llama, qwen2/3, ...)",
        ) from exc
    return model, tokenizer


def check_gguf(gguf_file: Path) -> None:
    """A whole GGUF file: magic, a header the reader parses, every tensor's bytes inside the file.

    Runs before anything is created (temp dir, lock file), so a truncated download fails in one
    line and leaves nothing behind.
    """
    try:
        size = gguf_file.stat().st_size
        with gguf_file.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ValidationError(f"{gguf_file}: cannot read it ({exc.strerror or exc})") from None
    if magic != b"GGUF":
        raise ValidationError(f"{gguf_file}: not a GGUF file (it does not start with the GGUF magic)",
                              hint="give a .gguf model file or a Hugging Face model directory")
    try:
        from gguf import GGUFReader

        end = max((int(t.data_offset) + int(t.n_bytes) for t in GGUFReader(str(gguf_file)).tensors), default=0)
    except ImportError as exc:
        raise EnvironmentProblem(f"reading GGUF needs the `gguf` package ({exc})", hint="pip install gguf") from exc
    except Exception:  # noqa: BLE001 - the reader fails with struct/numpy/index errors on a cut file
        end = size + 1
    if end > size:
        raise ValidationError(f"{gguf_file}: the GGUF file is truncated or damaged ({size:,} bytes; its header describes more)",
                              hint="download it again (compare its size/sha256 with the source)")


def convert_gguf(gguf_file: str | Path, dest: str | Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Convert ``gguf_file`` to a safetensors model dir at ``dest`` (replacing it); returns model facts."""
    gguf_file, dest = Path(gguf_file), Path(dest)
    if not gguf_file.is_file():
        raise EnvironmentProblem(f"GGUF file not found: {gguf_file}")
    check_gguf(gguf_file)
    step = progress or (lambda *_: None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{dest.name}-", dir=dest.parent))
    try:
        with quiet_progress_bars():
            facts = _convert_into(gguf_file, tmp, step)
        step("installing", 4, STEPS)
        _make_readable(tmp)
        replace_dir(tmp, dest)
        return facts
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _convert_into(gguf_file: Path, tmp: Path, step: Progress) -> dict[str, Any]:
    """Load, fix and save into ``tmp``; returns facts about the model."""
    step("reading GGUF and dequantizing to float32", 1, STEPS)
    model, tokenizer = _load_gguf(gguf_file)
    step("fixing config, tokenizer and chat template", 2, STEPS)
    _clear_gguf_quantization(model)
    _stop_at_im_end(model, tokenizer)
    if getattr(model.config, "max_position_embeddings", None):  # GGUF tokenizers say "infinite" otherwise
        tokenizer.model_max_length = int(model.config.max_position_embeddings)
    step("writing safetensors", 3, STEPS)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    facts = {
        "architecture": (model.config.architectures or [type(model).__name__])[0],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "eos_token": tokenizer.eos_token,
    }
    return facts


def replace_dir(src: Path, dest: Path) -> None:
    """Rename ``src`` to ``dest``; an existing ``dest`` is moved aside first and removed after."""
    old = None
    if dest.exists():
        old = dest.with_name(f"{TEMP_PREFIX}old-{dest.name}-{os.getpid()}")
        os.replace(dest, old)
    os.replace(src, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_readable(path: Path) -> None:
    # mkdtemp makes a 0700 dir; a model dir is ordinary data, so use the umask like any other file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)
    for f in path.iterdir():
        if f.is_file():
            os.chmod(f, 0o666 & ~umask)


def clean_stale_temps(parent: Path, name: str) -> int:
    """Remove temp dirs a killed conversion of ``name`` left behind; returns how many."""
    count = 0
    for p in parent.glob(f"{TEMP_PREFIX}*{name}-*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            count += 1
    return count


def gguf_summary(gguf_file: str | Path) -> dict[str, Any]:
    """Architecture and parameter count read from a GGUF header (no dequantizing)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_file))
    arch = None
    field = reader.fields.get("general.architecture")
    if field is not None:
        arch = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    return {"architecture": arch, "parameters": int(sum(int(t.n_elements) for t in reader.tensors))}
