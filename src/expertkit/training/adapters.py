"""The adapter methods `expert-cli train` knows, behind one small checked registry.

Every method turns the manifest's ``training.config`` (plus, for prompt tuning, one
``soft_prompts[]`` entry) into a ``peft.PeftConfig``; the one training loop in ``trainer.py``
does the rest. Built in: ``lora``, ``dora`` (LoRA with ``use_dora``), ``ia3`` and
``prompt_tuning`` (the manifest's soft prompts).

How to add a method (checklist):

1. Write ``build(ctx: AdapterContext) -> peft.PeftConfig``; read settings from ``ctx.config`` and
   raise ``ValidationError`` naming the manifest field for bad values.
2. List the layer classes it can wrap in ``layer_types`` (checked against the model's target
   modules, so an unsupported model gives a clear error instead of a PEFT traceback), or leave
   it ``None`` for methods without target modules (prompt learning).
3. Set ``packing=False`` if each example needs its own virtual tokens (prompt learning).
4. ``register(AdapterMethod(...))`` at the bottom of this module; names are lower-case words,
   duplicates are refused.
5. Add a tiny-model test in ``tests/training/test_adapters.py`` (trains, loss falls, reloads).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expertkit.errors import TrainingError, ValidationError
from expertkit.manifest.model import SoftPrompt, TrainingConfig

# Module path parts that mark a feed-forward block (IA3 scales their inputs instead of outputs).
_FEEDFORWARD_HINTS = ("mlp", "feed_forward", "ffn", "ff")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class AdapterContext:
    """What a method may look at to build its PEFT config."""

    config: TrainingConfig
    model: Any  # the base transformers model
    model_path: str  # local dir (tokenizer for text-initialised soft prompts)
    soft_prompt: SoftPrompt | None = None
    soft_prompt_field: str = "soft_prompts[0]"


@dataclass(frozen=True)
class AdapterMethod:
    name: str
    build: Callable[[AdapterContext], Any]
    layer_types: tuple[str, ...] | None  # class names the method can wrap; None = no target modules
    packing: bool = True  # False: examples must not share a row (each needs its own virtual tokens)
    description: str = ""


_REGISTRY: dict[str, AdapterMethod] = {}


def register(method: AdapterMethod) -> None:
    """Add a method; a malformed or duplicate name is a programming error (ValueError)."""
    if not _NAME.match(method.name):
        raise ValueError(f"adapter method name {method.name!r} must be a lower-case word (a-z, 0-9, _)")
    if method.name in _REGISTRY:
        raise ValueError(f"adapter method {method.name!r} is already registered")
    _REGISTRY[method.name] = method


def get_method(name: str) -> AdapterMethod:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValidationError(
            f"training.config.adapter_type: {name!r} is not a known adapter method (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def methods() -> list[str]:
    return sorted(_REGISTRY)


# --- target module checks -------------------------------------------------------------------


def module_kinds(model: Any) -> dict[str, set[str]]:
    """Leaf module name (``q_proj``) -> class names found under it, for modules PEFT could wrap."""
    kinds: dict[str, set[str]] = {}
    for path, module in model.named_modules():
        if not path or any(True for _ in module.children()):
            continue
        kinds.setdefault(path.rsplit(".", 1)[-1], set()).add(type(module).__name__)
    return kinds


def check_targets(method: AdapterMethod, targets: list[str], model: Any) -> None:
    """Every target must name a module of the model that ``method`` can wrap."""
    if method.layer_types is None:
        return
    kinds = module_kinds(model)
    adaptable = sorted(n for n, k in kinds.items() if k & set(method.layer_types))
    unknown = [t for t in targets if t not in kinds]
    if unknown:
        raise ValidationError(
            f"training.config.target_modules: {', '.join(map(repr, unknown))} not in the base model; "
            f"its adaptable modules are: {', '.join(adaptable)}",
        )
    if "lm_head" in targets:
        raise TrainingError(
            "training.config.target_modules: lm_head can't be adapted (the trainer computes the loss from lm_head's "
            "weight directly, so an adapter there would never train)",
            hint="remove lm_head from target_modules",
        )
    for t in targets:
        unsupported = kinds[t] - set(method.layer_types)
        if unsupported:
            raise TrainingError(
                f"adapter {method.name} is not supported for {t} in this model ({', '.join(sorted(unsupported))} layers); "
                f"{method.name} can wrap {', '.join(method.layer_types)} layers: {', '.join(adaptable) or 'none in this model'}",
                hint="pick target_modules from that list, or another adapter_type",
            )


def feedforward_of(targets: list[str], model: Any) -> list[str]:
    """The targets that live in feed-forward blocks (by module path), for IA3's default."""
    found = set()
    for path, _ in model.named_modules():
        parts = path.split(".")
        if parts[-1] in targets and any(p in _FEEDFORWARD_HINTS for p in parts[:-1]):
            found.add(parts[-1])
    return [t for t in targets if t in found]


# --- the built-in methods -------------------------------------------------------------------


def _lora_like(ctx: AdapterContext, *, dora: bool) -> Any:
    from peft import LoraConfig

    c = ctx.config
    if not c.rank or c.rank <= 0:
        raise ValidationError(f"training.config.rank: {c.rank!r} is not allowed ({'DoRA: use 12-16' if dora else 'LoRA: use 16-32'})")
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=c.rank,
        lora_alpha=c.alpha if c.alpha is not None else 2 * c.rank,
        lora_dropout=c.dropout,
        target_modules=list(c.target_modules),
        layers_to_transform=top_layers(ctx),
        use_dora=dora,
        bias="none",
    )


def _ia3(ctx: AdapterContext) -> Any:
    from peft import IA3Config

    targets = list(ctx.config.target_modules)
    ff = ctx.config.feedforward_modules
    if ff is None:
        ff = feedforward_of(targets, ctx.model)
    stray = [m for m in ff if m not in targets]
    if stray:
        raise ValidationError(
            f"training.config.feedforward_modules: {', '.join(map(repr, stray))} not in target_modules (ia3 needs a subset)"
        )
    if ctx.config.top_layers is not None:  # PEFT's IA3Config has no layers_to_transform
        raise ValidationError("training.config.top_layers: only for lora and dora (ia3 adapts every layer)",
                              hint="remove top_layers or use adapter_type lora/dora")
    return IA3Config(task_type="CAUSAL_LM", target_modules=targets, feedforward_modules=list(ff))


def top_layers(ctx: AdapterContext) -> list[int] | None:
    """PEFT's ``layers_to_transform`` for ``training.config.top_layers`` (the last N layers)."""
    n = ctx.config.top_layers
    if n is None:
        return None
    total = getattr(ctx.model.config, "num_hidden_layers", None)
    if not isinstance(total, int) or not 1 <= n <= total:
        raise ValidationError(f"training.config.top_layers: {n} is not allowed (the base model has {total} layers; expected 1-{total})")
    return list(range(total - n, total))


def _prompt_tuning(ctx: AdapterContext) -> Any:
    from peft import PromptTuningConfig, PromptTuningInit

    sp = ctx.soft_prompt
    if sp is None:
        raise ValidationError("soft_prompts: empty; prompt tuning trains one of the manifest's soft prompts", hint="add a soft_prompts[] entry")
    if sp.tokens <= 0:
        raise ValidationError(f"{ctx.soft_prompt_field}.tokens: {sp.tokens} is not allowed (expected > 0)")
    if sp.init_method == "text":
        if not sp.init_text:
            raise ValidationError(f"{ctx.soft_prompt_field}.init_text: missing (init_method is text)")
        return PromptTuningConfig(
            task_type="CAUSAL_LM",
            num_virtual_tokens=sp.tokens,
            prompt_tuning_init=PromptTuningInit.TEXT,
            prompt_tuning_init_text=sp.init_text,
            tokenizer_name_or_path=ctx.model_path,
        )
    init = PromptTuningInit.SAMPLE_VOCAB if sp.init_method == "vocab_sample" else PromptTuningInit.RANDOM
    return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=sp.tokens, prompt_tuning_init=init)


_LINEAR = ("Linear", "Conv1D")
register(AdapterMethod("lora", lambda ctx: _lora_like(ctx, dora=False), (*_LINEAR, "Embedding", "Conv2d"), description="LoRA"))
register(AdapterMethod("dora", lambda ctx: _lora_like(ctx, dora=True), (*_LINEAR, "Embedding", "Conv2d"), description="DoRA (weight-decomposed LoRA)"))
register(AdapterMethod("ia3", _ia3, (*_LINEAR, "Conv2d"), description="IA3 (learned scaling vectors)"))
register(AdapterMethod("prompt_tuning", _prompt_tuning, None, packing=False, description="prompt tuning (soft prompt)"))


@dataclass
class AdapterPlan:
    """The method chosen for a run and its PEFT config."""

    method: AdapterMethod
    peft_config: Any
    soft_prompt: SoftPrompt | None = None
    notes: list[str] = field(default_factory=list)


def plan_adapter(ctx: AdapterContext, method_name: str) -> AdapterPlan:
    """Pick the method, check its targets against the model, build the PEFT config."""
    method = get_method(method_name)
    if method.layer_types is not None:
        check_targets(method, list(ctx.config.target_modules), ctx.model)
    return AdapterPlan(method, method.build(ctx), ctx.soft_prompt)
