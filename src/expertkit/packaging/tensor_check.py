"""Is `adapter_model.safetensors` whole, and is it the adapter `adapter_config.json` describes?

Reads only the safetensors header (8-byte little-endian length, then JSON: name -> dtype, shape,
data_offsets) and checks: the header and every tensor's byte range fit the file, each range's
size is its shape x dtype size, the ranges cover the data exactly; then against the PEFT config:
LoRA/DoRA tensors pair up (lora_A [r, in], lora_B [out, r], DoRA's lora_magnitude_vector iff
use_dora), their modules are among target_modules, IA3 has ia3_l vectors, prompt tuning has
prompt_embeddings [num_virtual_tokens, token_dim]. `package` runs this before writing anything;
`verify` (and so `install`) runs it on the packaged bytes.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

from expertkit.errors import PackageError

DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit
_LORA = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B)(?:\.[^.]+)?\.weight$")
_MAGNITUDE = re.compile(r"^(?P<module>.+)\.lora_magnitude_vector(?:\.[^.]+)?(?:\.weight)?$")


def read_header(data: bytes, where: str) -> dict[str, dict[str, Any]]:
    """name -> {dtype, shape, data_offsets} of a whole safetensors file; PackageError says what is wrong."""
    if len(data) < 8:
        raise PackageError(f"{where}: {len(data)} bytes is too short for a safetensors file (truncated?)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES or 8 + size > len(data):
        raise PackageError(f"{where}: the safetensors header says {size} bytes but the file has {len(data)} (truncated or not safetensors)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PackageError(f"{where}: the safetensors header is not JSON (damaged or not safetensors)") from None
    if not isinstance(header, dict):
        raise PackageError(f"{where}: the safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    _check_ranges(header, len(data) - 8 - size, where)
    return header


def _check_ranges(header: dict[str, Any], data_len: int, where: str) -> None:
    spans = []
    for name, info in header.items():
        try:
            dtype, shape, (start, end) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
            width = DTYPE_BYTES[dtype]
        except (KeyError, TypeError, ValueError):
            raise PackageError(f"{where}: tensor {name!r} has a malformed header entry") from None
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_len):
            raise PackageError(f"{where}: tensor {name!r} ends at byte {end} of {data_len} (the file is truncated)")
        if end - start != math.prod(shape) * width:
            raise PackageError(f"{where}: tensor {name!r} has {end - start} bytes, its shape {shape} needs {math.prod(shape) * width}")
        spans.append((start, end))
    covered = 0
    for start, end in sorted(spans):
        if start != covered:
            raise PackageError(f"{where}: tensor data has a gap or overlap at byte {covered}")
        covered = end
    if covered != data_len:
        raise PackageError(f"{where}: {data_len - covered} bytes after the last tensor (damaged)")


def check_adapter(config_bytes: bytes, weights: bytes, where: str = "adapter_model.safetensors") -> None:
    """Raise PackageError unless ``weights`` is whole and matches the PEFT ``config_bytes``."""
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackageError(f"adapter_config.json: not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise PackageError("adapter_config.json: not a JSON object")
    header = read_header(weights, where)
    if not header:
        raise PackageError(f"{where}: holds no tensors")
    shapes = {name: [int(d) for d in info["shape"]] for name, info in header.items()}
    kind = str(config.get("peft_type", "")).upper()
    if kind == "LORA":
        _check_lora(config, shapes, where)
    elif kind == "IA3":
        if not any(n.endswith("ia3_l") or ".ia3_l." in n for n in shapes):
            raise PackageError(f"{where}: adapter_config.json says IA3 but there are no ia3_l tensors")
    elif kind == "PROMPT_TUNING":
        _check_prompt(config, shapes, where)


def _targets_ok(module: str, targets: Any) -> bool:
    if not isinstance(targets, list):
        return True  # a regex or "all-linear": PEFT resolved it at training time
    return any(module == t or module.endswith("." + t) for t in targets)


def _check_lora(config: dict[str, Any], shapes: dict[str, list[int]], where: str) -> None:
    rank, targets = config.get("r"), config.get("target_modules")
    pattern = config.get("rank_pattern") or {}
    modules: dict[str, dict[str, list[int]]] = {}
    for name, shape in shapes.items():
        match = _LORA.match(name)
        if match:
            modules.setdefault(match.group("module"), {})[match.group("part")] = shape
    if not modules:
        raise PackageError(f"{where}: adapter_config.json says LoRA but there are no lora_A/lora_B tensors")
    for module, parts in sorted(modules.items()):
        if set(parts) != {"lora_A", "lora_B"}:
            raise PackageError(f"{where}: {module} has {', '.join(sorted(parts))} without its pair")
        if not _targets_ok(module, targets):
            raise PackageError(f"{where}: {module} is not among adapter_config.json target_modules {targets}")
        a, b = parts["lora_A"], parts["lora_B"]
        if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
            raise PackageError(f"{where}: {module} lora_A {a} and lora_B {b} do not fit together")
        if isinstance(rank, int) and not pattern and a[0] != rank:
            raise PackageError(f"{where}: {module} has rank {a[0]}, adapter_config.json says r={rank}")
    magnitudes = {m.group("module") for n in shapes if (m := _MAGNITUDE.match(n))}
    if config.get("use_dora") and magnitudes != set(modules):
        raise PackageError(f"{where}: adapter_config.json says DoRA but {len(set(modules) - magnitudes)} module(s) lack lora_magnitude_vector")
    if not config.get("use_dora") and magnitudes:
        raise PackageError(f"{where}: has DoRA magnitude vectors but adapter_config.json says use_dora is false")


def _check_prompt(config: dict[str, Any], shapes: dict[str, list[int]], where: str) -> None:
    shape = shapes.get("prompt_embeddings")
    if shape is None:
        raise PackageError(f"{where}: adapter_config.json says prompt tuning but there is no prompt_embeddings tensor")
    want = [config.get("num_virtual_tokens"), config.get("token_dim")]
    if all(isinstance(w, int) for w in want) and shape != want:
        raise PackageError(f"{where}: prompt_embeddings is {shape}, adapter_config.json says {want}")


def check_members(files: dict[str, bytes], where: str | None = None) -> None:
    """`check_adapter` on a package's members, and a header check of every soft prompt."""
    from expertkit.packaging.reader import ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME

    if ADAPTER_WEIGHTS_NAME in files:
        check_adapter(files.get(ADAPTER_CONFIG_NAME, b"{}"), files[ADAPTER_WEIGHTS_NAME], where or ADAPTER_WEIGHTS_NAME)
    for name, data in sorted(files.items()):
        if name.startswith("soft_prompts/") and name.endswith(".safetensors"):
            read_header(data, name)
