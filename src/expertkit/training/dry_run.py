"""``dry_run()``: what `expert-cli train` would do, resolved and measured, without training.

Runs the same resolution as `train()` (manifest, flags, base model, splits, adapter plan,
TrainingArguments) and measures what only data can tell: tokens per split, packed rows (the
same best-fit-decreasing packing TRL uses: a row holds whole examples up to max_seq_length),
optimizer steps per epoch, total steps and warmup steps. Nothing is written. The base model
loads (target modules are checked against it), but no step runs.
"""

from __future__ import annotations

import bisect
import math
from pathlib import Path
from typing import Any

from expertkit.training.run import TrainOptions, _load_splits, _resolve
from expertkit.training.tokenization import read_examples


def packed_rows(lengths: list[int], capacity: int) -> int:
    """Rows after best-fit-decreasing packing of sequences of ``lengths`` into rows of ``capacity``."""
    free: list[int] = []  # sorted remaining capacities of open rows
    for length in sorted(lengths, reverse=True):
        i = bisect.bisect_left(free, length)
        if i < len(free):
            remaining = free.pop(i) - length
        else:
            remaining = capacity - length
        bisect.insort(free, remaining)
    return len(free)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(getattr(value, "value", value))


def dry_run(manifest_path: str | Path, options: TrainOptions | None = None) -> dict[str, Any]:
    """Everything a training run would use, as one JSON-able dict; see the module docstring."""
    from expertkit.models.loading import load_base
    from expertkit.training.adapters import AdapterContext, plan_adapter
    from expertkit.training.trainer import build_args, resolve_warmup

    opts = options or TrainOptions()
    warnings: list[str] = []
    notes: list[str] = []

    def sink(event: dict[str, Any]) -> None:
        (warnings if event.get("event") == "warning" else notes).append(event.get("message", ""))

    setup = _resolve(Path(manifest_path), opts, warnings.append, sink)
    read_examples(setup.train_path)
    base = load_base(setup.spec, device=opts.device, dtype="float32", field_name=setup.spec_field)
    warnings += base.warnings
    train_split, val_split = _load_splits(setup, base.tokenizer, warnings.append)
    cfg = setup.cfg
    plan = plan_adapter(AdapterContext(cfg, base.model, str(base.resolved.path), setup.soft_prompt, setup.soft_prompt_field), setup.method)
    packing = cfg.packing and plan.method.packing
    args = build_args(cfg, run_dir=setup.run_dir, device=base.device, packing=packing, has_eval=val_split is not None,
                      epochs=cfg.epochs, max_steps=cfg.max_steps, seed=cfg.seed, warn=warnings.append)
    lengths = [len(r["input_ids"]) for r in train_split.rows]
    rows = packed_rows(lengths, cfg.max_seq_length) if packing else len(lengths)
    batches = math.ceil(rows / (args.per_device_train_batch_size * args.world_size))
    steps_per_epoch = max(1, math.ceil(batches / args.gradient_accumulation_steps))
    total = cfg.max_steps if cfg.max_steps else math.ceil(steps_per_epoch * cfg.epochs)
    _, warmup_note = resolve_warmup(cfg)
    peft = {k: _jsonable(v) for k, v in plan.peft_config.to_dict().items()}
    return {
        "manifest": str(setup.loaded.path),
        "expert": {"name": setup.loaded.model.name, "version": setup.loaded.model.version},
        "base_model": {"name": setup.spec.name, "resolved": base.resolved.name, "path": str(base.resolved.path),
                       "source": base.resolved.source, "device": base.device},
        "adapter": {"method": plan.method.name, "peft_config": peft},
        "run_dir": str(setup.run_dir),
        "resume_from": str(setup.resume_from) if setup.resume_from else None,
        "data": {"train": train_split.stats(), "validation": val_split.stats() if val_split else None,
                 "packing": packing, "rows_after_packing": rows, "tokens_after_packing": sum(lengths),
                 "padding_free": packing},
        "schedule": {"epochs": cfg.epochs, "max_steps": cfg.max_steps or None, "steps_per_epoch": steps_per_epoch,
                     "total_steps": total, "warmup_steps": args.get_warmup_steps(total), "warmup": warmup_note,
                     "effective_batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size},
        "training_arguments": _jsonable(args.to_dict()),
        "notes": notes,
        "warnings": warnings,
    }
