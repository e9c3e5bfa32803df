"""``train()``: the entry `expert-cli train` (and `accelerate launch`) runs.

One loop for every adapter method: resolve the manifest + flags, check the inputs (cheap checks
before the model loads), tokenize with turn-level masks, build the PEFT config and the
SFTTrainer, train (or resume), then write ``final/``, ``training_summary.json`` and ``loss.png``.

Layout under ``--output`` (default ``weights/`` beside the manifest)::

    <model-slug>/checkpoint-N/    <model-slug>/final/    <model-slug>/training_summary.json
    <model-slug>/loss.png         <model-slug>/rejected_examples.jsonl (when some were rejected)
    <model-slug>/soft_prompts/<name>/...   the same, for `--soft-prompt NAME` (prompt tuning)
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.atomic import write_json, write_jsonl
from expertkit.errors import DatasetError, UsageError
from expertkit.manifest import layout
from expertkit.manifest.layout import pick_base_model
from expertkit.manifest.loader import LoadedManifest, load_manifest
from expertkit.manifest.model import BaseModelSpec, SoftPrompt, TrainingConfig
from expertkit.training import checkpoints as ckpt
from expertkit.training.adapters import AdapterContext, AdapterPlan, get_method, plan_adapter
from expertkit.training.callbacks import EventSink, make_event_callback, quiet_libraries
from expertkit.training.summary import build_summary, file_sha256, plot_loss, write_summary
from expertkit.training.tokenization import TokenizedSplit, load_split, read_examples


@dataclass
class TrainOptions:
    """The command-line overrides; ``None`` means "as in the manifest"."""

    dataset: Path | None = None
    validation: Path | None = None
    output: Path | None = None
    model: str | None = None
    resume: bool | Path = False  # True: the latest complete checkpoint; a Path: that checkpoint
    device: str = "auto"
    epochs: float | None = None
    max_steps: int | None = None
    seed: int | None = None
    soft_prompt: str | None = None  # train this soft_prompts[] entry (prompt tuning) instead of the adapter


@dataclass
class TrainResult:
    run_dir: Path
    final_dir: Path
    summary_path: Path
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    model: Any = None  # the trained PeftModel (final weights), for callers that keep going in-process


@dataclass
class _Setup:
    loaded: LoadedManifest
    spec: BaseModelSpec
    spec_field: str
    cfg: TrainingConfig
    method: str
    soft_prompt: SoftPrompt | None
    soft_prompt_field: str
    train_path: Path
    val_path: Path | None
    run_dir: Path
    resume_from: Path | None


def _pick_model(loaded: LoadedManifest, name: str | None) -> tuple[BaseModelSpec, str]:
    spec = pick_base_model(loaded, name)
    return spec, f"base_models[{loaded.model.base_models.index(spec)}]"


def _pick_soft_prompt(loaded: LoadedManifest, name: str | None) -> tuple[SoftPrompt | None, str]:
    if name is None:
        return None, ""
    for i, sp in enumerate(loaded.model.soft_prompts):
        if sp.name == name:
            return sp, f"soft_prompts[{i}]"
    names = ", ".join(sp.name for sp in loaded.model.soft_prompts) or "none declared"
    raise UsageError(f"soft prompt {name!r} is not in the manifest's soft_prompts ({names})", param="soft_prompt")


def _resolve(manifest_path: Path, opts: TrainOptions, warn: Any, sink: EventSink) -> _Setup:
    loaded = load_manifest(manifest_path)
    spec, spec_field = _pick_model(loaded, opts.model)
    soft_prompt, sp_field = _pick_soft_prompt(loaded, opts.soft_prompt)
    overrides = {k: v for k, v in {"epochs": opts.epochs, "max_steps": opts.max_steps, "seed": opts.seed}.items() if v is not None}
    cfg = loaded.model.training.config.model_copy(update=overrides)
    if cfg.epochs <= 0 or (cfg.max_steps is not None and cfg.max_steps < 0):
        raise UsageError(f"epochs ({cfg.epochs}) must be > 0 and max_steps ({cfg.max_steps}) >= 0 (0: use epochs)")
    if cfg.method != "sft":
        raise UsageError(f"training.config.method: {cfg.method!r} is not supported (expert-cli train does sft)")
    method = "prompt_tuning" if soft_prompt else cfg.adapter_type
    get_method(method)
    if method in ("ia3", "prompt_tuning") and "dropout" in cfg.model_fields_set:
        warn(f"training.config.dropout: {method} has no dropout; the value is not used")
    _soft_prompt_files(loaded, warn)
    if soft_prompt is None and loaded.model.soft_prompts:
        names = ", ".join(sp.name for sp in loaded.model.soft_prompts)
        sink({"event": "note", "message": f"soft_prompts ({names}) are trained separately: expert-cli train --soft-prompt NAME"})
    ds = loaded.model.training.dataset
    if opts.dataset is None:
        from expertkit.data.staging import check_prepared

        for message in check_prepared(loaded):
            warn(message)
    train_path = opts.dataset or loaded.resolve(ds.path)
    val_path = opts.validation or (loaded.resolve(ds.validation_path) if ds.validation_path else None)
    if cfg.evaluation_strategy == "no":
        if opts.validation is not None:
            warn(f"--validation {opts.validation}: training.config.evaluation_strategy is no, so it is not evaluated")
        val_path = None
    elif val_path is None or not val_path.is_file():
        raise DatasetError(
            f"training.config.evaluation_strategy is {cfg.evaluation_strategy}, but the validation split "
            f"{val_path or '(training.dataset.validation_path not set)'} does not exist",
            hint="run `expert-cli dataset prepare`, pass --validation PATH, or set evaluation_strategy to no",
        )
    run_dir = layout.run_dir(loaded, spec.name, opts.output)
    if soft_prompt is not None:
        run_dir = run_dir / "soft_prompts" / soft_prompt.name
    return _Setup(loaded, spec, spec_field, cfg, method, soft_prompt, sp_field, train_path, val_path, run_dir,
                  _resume_point(run_dir, opts.resume))


def _soft_prompt_files(loaded: LoadedManifest, warn: Any) -> None:
    """A soft prompt file that doesn't exist yet is what `train --soft-prompt` creates: one line, not a stop."""
    for i, sp in enumerate(loaded.model.soft_prompts):
        if sp.path and not loaded.resolve(sp.path).exists():
            warn(f"soft_prompts[{i}].path: {sp.path} does not exist yet (train it with --soft-prompt {sp.name})")


def _resume_point(run_dir: Path, resume: bool | Path) -> Path | None:
    if resume is True:
        latest = ckpt.find_latest(run_dir)
        if latest is None:
            raise UsageError(f"no complete checkpoint in {run_dir} to resume from", param="resume", hint="train without --resume first")
        return latest
    if resume:
        return ckpt.check_resume_path(Path(resume))
    if ckpt.checkpoints(run_dir):
        raise UsageError(
            f"{run_dir} already holds checkpoints of an earlier run",
            hint="continue it with --resume, or delete that directory (or pick another --output) to start over",
        )
    return None


def _load_splits(setup: _Setup, tokenizer: Any, warn: Any) -> tuple[TokenizedSplit, TokenizedSplit | None]:
    max_len = setup.cfg.max_seq_length
    train_split = load_split(setup.train_path, tokenizer, max_len)
    val_split = load_split(setup.val_path, tokenizer, max_len, role="validation") if setup.val_path else None
    for split, name in ((train_split, "training"), (val_split, "validation")):
        if split and split.truncated:
            warn(f"{split.truncated} of {split.total} {name} examples are longer than max_seq_length={max_len} tokens "
                 f"(longest {split.longest}) and were truncated; their ends are not trained")
    return train_split, val_split


def _write_rejects(setup: _Setup, splits: list[TokenizedSplit | None], sink: EventSink) -> Path | None:
    rejected = [r for s in splits if s for r in s.rejected]
    if not rejected:
        return None
    path = setup.run_dir / "rejected_examples.jsonl"
    write_jsonl(path, rejected)
    sink({"event": "note", "message": f"{len(rejected)} example(s) not trained; reasons in {path}"})
    return path


def train(manifest_path: str | Path, options: TrainOptions | None = None, *, on_event: EventSink | None = None,
          callbacks: list[Any] | None = None) -> TrainResult:
    """Train one adapter (or soft prompt) for one base model of the manifest; see the module docstring."""
    opts = options or TrainOptions()
    sink: EventSink = on_event or (lambda event: None)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        sink({"event": "warning", "message": message})

    setup = _resolve(Path(manifest_path), opts, warn, sink)
    read_examples(setup.train_path)  # missing / empty / malformed: fail before the model loads
    with quiet_libraries(sink):
        return _run(setup, opts, sink, warn, warnings, callbacks or [])


def _run(setup: _Setup, opts: TrainOptions, sink: EventSink, warn: Any, warnings: list[str], extra: list[Any]) -> TrainResult:
    from expertkit.models.loading import load_base

    # fp32 master weights: training.config fp16/bf16 mean mixed precision (CUDA), not half-precision weights
    base = load_base(setup.spec, device=opts.device, dtype="float32", field_name=setup.spec_field)
    for message in base.warnings:
        warn(message)
    train_split, val_split = _load_splits(setup, base.tokenizer, warn)
    ctx = AdapterContext(setup.cfg, base.model, str(base.resolved.path), setup.soft_prompt, setup.soft_prompt_field)
    plan = plan_adapter(ctx, setup.method)
    packing = setup.cfg.packing and plan.method.packing
    if setup.cfg.packing and not packing:
        warn(f"training.config.packing: {plan.method.name} needs its own virtual tokens per example, so examples are not "
             "packed; training padded batches")
    trainer = _make_trainer(setup, base, plan, packing, train_split, val_split, sink, warn, extra)
    setup.run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.clean_stale(setup.run_dir)
    rejects = _write_rejects(setup, [train_split, val_split], sink)
    if trainer.is_world_process_zero():  # one start line per launch, not one per rank
        sink({"event": "start", "run_dir": str(setup.run_dir), "adapter": plan.method.name, "base_model": setup.spec.name,
              "device": base.device, "examples": len(train_split.rows), "packing": packing,
              "resumed_from": str(setup.resume_from) if setup.resume_from else None})
    started = time.monotonic()
    tokens_before = _tokens_in(setup.resume_from)
    trainer.train(resume_from_checkpoint=str(setup.resume_from) if setup.resume_from else None)
    wall = time.monotonic() - started
    if not trainer.args.should_save:  # a non-main rank under accelerate launch: rank 0 writes the outputs
        return TrainResult(setup.run_dir, setup.run_dir / "final", setup.run_dir / "training_summary.json", {}, warnings)
    final_dir = _save_final(trainer, setup, plan, base.tokenizer)
    summary = build_summary(
        state=trainer.state, wall_time_s=wall, session_tokens=trainer.state.num_input_tokens_seen - tokens_before,
        manifest=str(setup.loaded.path), expert={"name": setup.loaded.model.name, "version": setup.loaded.model.version},
        base_model=_base_info(base), adapter=_adapter_info(plan, packing), config=_config_info(setup, trainer, packing),
        datasets=_dataset_info(train_split, val_split, rejects), resumed_from=str(setup.resume_from) if setup.resume_from else None,
        checkpoints=[str(p) for _, p in ckpt.checkpoints(setup.run_dir)], final=_final_info(trainer, final_dir),
        speedups=trainer.expert_speedups, warnings=warnings,
    )
    summary_path = setup.run_dir / "training_summary.json"
    write_summary(summary_path, summary)
    plot_loss(setup.run_dir / "loss.png", summary, f"{setup.loaded.model.name} · {plan.method.name} · {setup.spec.name}")
    sink({"event": "end", "final_dir": str(final_dir), "summary": str(summary_path), "steps": summary["steps"],
          "wall_time_s": summary["wall_time_s"], "tokens_per_second": summary["tokens_per_second"]})
    return TrainResult(setup.run_dir, final_dir, summary_path, summary, warnings, trainer.accelerator.unwrap_model(trainer.model))


def _tokens_in(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    import json

    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("num_input_tokens_seen", 0) or 0)


def _make_trainer(setup: _Setup, base: Any, plan: AdapterPlan, packing: bool, train_split: TokenizedSplit,
                  val_split: TokenizedSplit | None, sink: EventSink, warn: Any, extra: list[Any]) -> Any:
    from expertkit.training.trainer import build_args, build_trainer, resolve_warmup

    cfg = setup.cfg
    args = build_args(cfg, run_dir=setup.run_dir, device=base.device, packing=packing, has_eval=val_split is not None,
                      epochs=cfg.epochs, max_steps=cfg.max_steps, seed=cfg.seed, warn=warn)
    if cfg.warmup_steps is not None and cfg.warmup_ratio is not None:  # both set: one line says which wins
        sink({"event": "note", "message": resolve_warmup(cfg)[1]})
    trainer = build_trainer(model=base.model, tokenizer=base.tokenizer, peft_config=plan.peft_config, args=args,
                            train_rows=train_split.rows, eval_rows=val_split.rows if val_split else None,
                            callbacks=[make_event_callback(sink, setup.run_dir), *extra], save_total_limit=cfg.save_total_limit)
    return trainer


def _save_final(trainer: Any, setup: _Setup, plan: AdapterPlan, tokenizer: Any) -> Path:
    final = setup.run_dir / "final"
    tmp = ckpt.tmp_dir_for(final)
    if tmp.exists():
        shutil.rmtree(tmp)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if plan.soft_prompt is not None:
        _save_soft_prompt(model, tmp / "soft_prompts" / f"{plan.soft_prompt.name}.safetensors", plan, setup)
    source = trainer.state.best_model_checkpoint if trainer.args.load_best_model_at_end else None
    write_json(tmp / "expertkit_final.json", {"step": trainer.state.global_step, "from": "best" if source else "last",
                                              "checkpoint": source, "adapter": plan.method.name})
    ckpt.publish(tmp, final, trainer.state.global_step)
    return final


def _save_soft_prompt(model: Any, path: Path, plan: AdapterPlan, setup: _Setup) -> None:
    """The trained prompt embeddings as a standalone safetensors file (what packages carry)."""
    from safetensors.torch import save_file

    sp = plan.soft_prompt
    embeddings = model.get_prompt_embedding_to_save(adapter_name="default").detach().cpu().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"prompt_embeddings": embeddings}, str(path), metadata={
        "name": sp.name, "tokens": str(sp.tokens), "init_method": sp.init_method, "base_model": setup.spec.name,
        "hidden_size": str(embeddings.shape[-1]),
    })


def _base_info(base: Any) -> dict[str, Any]:
    from expertkit.models.digest import DIGEST_DEFINITION, model_digest

    digest = base.digest
    if digest is None:
        try:
            digest = model_digest(base.resolved.path)
        except Exception:  # noqa: BLE001 - a digest we can't compute is recorded as null, not a failed run
            digest = None
    return {"name": base.resolved.name, "path": str(base.resolved.path), "source": base.resolved.source,
            "sha256": digest, "digest_definition": DIGEST_DEFINITION, "device": base.device}


def _adapter_info(plan: AdapterPlan, packing: bool) -> dict[str, Any]:
    config = plan.peft_config.to_dict()
    config = {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()}
    info = {"method": plan.method.name, "peft_config": config, "packing": packing}
    if plan.soft_prompt is not None:
        info["soft_prompt"] = plan.soft_prompt.model_dump(exclude_none=True)
    return info


def _config_info(setup: _Setup, trainer: Any, packing: bool) -> dict[str, Any]:
    args = trainer.args
    return {
        "training.config": setup.cfg.model_dump(mode="json"),
        "effective": {"device": str(args.device), "fp16": args.fp16, "bf16": args.bf16, "packing": packing,
                      "optim": str(getattr(args.optim, "value", args.optim)), "epochs": args.num_train_epochs,
                      "max_steps": trainer.state.max_steps, "world_size": args.world_size,
                      "distributed_type": str(getattr(trainer.accelerator.distributed_type, "value", trainer.accelerator.distributed_type)),
                      "effective_batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size},
    }


def _dataset_info(train_split: TokenizedSplit, val_split: TokenizedSplit | None, rejects: Path | None) -> dict[str, Any]:
    def one(split: TokenizedSplit | None) -> dict[str, Any] | None:
        return None if split is None else {**split.stats(), "sha256": file_sha256(split.path)}

    return {"train": one(train_split), "validation": one(val_split), "rejected_file": str(rejects) if rejects else None}


def _final_info(trainer: Any, final_dir: Path) -> dict[str, Any]:
    best = trainer.state.best_model_checkpoint if trainer.args.load_best_model_at_end else None
    return {"path": str(final_dir), "from": "best" if best else "last", "checkpoint": best, "step": trainer.state.global_step}
