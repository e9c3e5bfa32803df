"""Render the manifest reference (Markdown) from the model's field descriptions.

The field descriptions in `model.py` are the only place an option is documented; the README's
reference (docs/manifest-reference.md) is generated from them and a test keeps it current.
"""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from expertkit.manifest.model import Manifest


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in get_args(annotation) if a is not type(None))
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (list, dict):
        inner = ", ".join(_type_name(a) for a in get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "{…}"
    return "" if value is None else f"`{value!r}`".replace("'", '"')


def _sections(model: type[BaseModel], prefix: str, out: list[str], seen: set) -> None:
    rows = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        rows.append(f"| `{prefix}{name}` | {_type_name(field.annotation)} | {_default(field)} | {field.description or ''} |")
        for arg in (field.annotation, *get_args(field.annotation), *[a for t in get_args(field.annotation) for a in get_args(t)]):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                origins = {get_origin(field.annotation), *(get_origin(a) for a in get_args(field.annotation))}
                suffix = "[]" if list in origins else ".<name>" if dict in origins else ""
                nested.append((f"{prefix}{name}{suffix}.", arg))
                seen.add(arg)
    title = prefix.rstrip(".") or "manifest (root)"
    out += [f"### `{title}`", "", "| field | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    for sub_prefix, sub in nested:
        _sections(sub, sub_prefix, out, seen)


def manifest_reference_markdown() -> str:
    out = [
        "# Manifest reference",
        "",
        "Generated from `src/expertkit/manifest/model.py` by `python scripts/gen_manifest_reference.py`;",
        "do not edit by hand. Every section also accepts extra keys (kept as is; `_`-prefixed keys",
        "are comments). `expert-cli schema` prints the same model as JSON Schema.",
        "",
    ]
    _sections(Manifest, "", out, {Manifest})
    return "\n".join(out).rstrip() + "\n"
