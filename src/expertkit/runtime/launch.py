"""The engine a front end (chat, the Python SDK, serve) starts before it knows every expert it will use.

The engine holds one base model; experts named later attach to it by name (the pool refuses one
made for another base). The base comes from, in order: the first named expert's manifest
(of its first alternative, for ``a|b``; ``model`` picks among its base_models), the ``model`` given, the first installed expert's
manifest, or the default model (`models.aliases.DEFAULT_MODEL`).

The engine's own settings are the defaults (greedy, no grammar, no system prompt): the base model
answers as itself, not under the first expert's grammar and system prompt (unlike `ask --base` and
`test --compare-base`, which run it under the expert's settings to compare like with like); each
expert brings its own settings when it is named.
"""

from __future__ import annotations

from typing import Any

from expertkit.runtime.engine import Experts, InferenceEngine


def open_engine(experts: Experts = None, *, model: Any = None, device: str = "auto",
                backend: str | None = None) -> InferenceEngine:
    """An engine on the base model that suits ``experts`` (see the module doc); nothing attached yet.

    ``model``: a model name or a `BaseModelSpec` (`base_model_for`'s answer); ``backend`` None
    keeps the engine's own default."""
    from expertkit.models.loading import load_base
    from expertkit.runtime.settings import DecodingSettings

    kwargs: dict[str, Any] = {} if backend is None else {"backend": backend}
    base = load_base(base_model_for(experts, model), device=device)
    return InferenceEngine(base, DecodingSettings(), **kwargs)


def base_model_for(experts: Experts = None, model: Any = None) -> Any:
    """The `BaseModelSpec` (or model name) to load for ``experts``; see the module doc."""
    from expertkit.manifest.layout import pick_base_model
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.compose import first_expert
    from expertkit.runtime.pool import installed_dir

    named = experts is not None and (experts.strip() if isinstance(experts, str) else list(experts))
    if named:
        first = first_expert(experts)
        path = installed_dir(f"{first.name}@{first.requirement}" if first.requirement else first.name)
    elif model is None:
        path = _first_installed()
    else:
        return model
    if path is None:
        from expertkit.models.aliases import DEFAULT_MODEL

        return DEFAULT_MODEL
    return pick_base_model(load_manifest(path / "manifest.json", check_files=False), model if named else None)


def _first_installed() -> Any:
    from expertkit.registry.store import current_record, read_registry, version_dir

    data = read_registry()
    for name in sorted(data["experts"]):
        version, _ = current_record(data, name)
        return version_dir(name, version)
    return None
