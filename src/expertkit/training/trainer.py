"""The one training loop: TRL's SFTTrainer + PEFT, configured from ``training.config``.

Why SFTTrainer as is: it accepts our pre-tokenized rows (``input_ids`` + ``labels``, masked turn
by turn in ``tokenization.py``) and leaves the labels alone; with ``packing=True`` it packs rows
best-fit-decreasing (``packing_strategy="bfd"``, which never splits an example) and collates
padding-free: a batch is one flat row with per-example ``position_ids`` and no attention mask,
which transformers turns into a block-diagonal mask, so packed examples don't see each other.
Its fused LM head computes the loss without materialising the logits. For SDPA models, packed
rows run per-example causal attention (``attention.py``) instead of a block-diagonal mask.

What is ours (``ExpertSFTTrainer``, in ``sft_trainer.py``): checkpoints without pickle (see ``checkpoints.py``), written
to a temp dir and renamed, and rotation that is kill-safe too; and the loss, whose LM head runs
only on labelled positions (``answer_loss.py``: on CPU TRL's fused head scores every position);
and on CPU a LoRA dropout that draws fewer random bits (``dropout.py``), a LoRA update fused
into one ``addmm`` (``fused_lora.py``) and a malloc that keeps freed memory (``memory.py``),
all applied, switched off and recorded by ``speedups.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expertkit.errors import ValidationError
from expertkit.manifest.model import TrainingConfig
from expertkit.training.speedups import apply_speedups

Warn = Callable[[str], None]
_BNB_OPTIM_HINTS = ("bnb", "8bit", "paged", "4bit")


def _scheduler(name: str) -> str:
    from transformers.trainer_utils import SchedulerType

    valid = [s.value for s in SchedulerType]
    if name not in valid:
        raise ValidationError(f"training.config.lr_scheduler: {name!r} is not a scheduler (one of: {', '.join(valid)})")
    return name


def _optim(name: str, device: str, warn: Warn) -> str:
    from transformers.training_args import OptimizerNames

    valid = [o.value for o in OptimizerNames]
    if name not in valid:
        raise ValidationError(f"training.config.optim: {name!r} is not an optimizer (e.g. adamw_torch, adafactor, sgd; all: {', '.join(valid)})")
    if any(h in name for h in _BNB_OPTIM_HINTS):
        try:
            import bitsandbytes  # noqa: F401

            ok = device.startswith("cuda")
        except ImportError:
            ok = False
        if not ok:
            warn(f"training.config.optim {name} needs bitsandbytes on CUDA; using adamw_torch instead")
            return "adamw_torch"
    return name


def _precision(cfg: TrainingConfig, device: str, warn: Warn) -> tuple[bool, bool]:
    fp16, bf16 = cfg.fp16, cfg.bf16
    if device == "cpu":
        for flag in ("fp16", "bf16"):
            if getattr(cfg, flag):
                warn(f"training.config.{flag}: mixed precision needs a CUDA GPU; training in float32 on CPU")
        return False, False
    if bf16:
        import torch

        if not torch.cuda.is_bf16_supported():
            warn("training.config.bf16: this GPU has no bf16 support; using fp16 mixed precision instead")
            return True, False
    return fp16 and not bf16, bf16


def _check_best_model(cfg: TrainingConfig, eval_steps: int | None) -> None:
    if not cfg.load_best_model_at_end:
        return
    if cfg.evaluation_strategy == "no":
        raise ValidationError("training.config.load_best_model_at_end: needs evaluation_strategy steps or epoch (nothing to pick the best by)")
    if cfg.save_strategy != cfg.evaluation_strategy:
        raise ValidationError(
            f"training.config.load_best_model_at_end: save_strategy ({cfg.save_strategy}) must match evaluation_strategy "
            f"({cfg.evaluation_strategy}) so every evaluated step has a checkpoint"
        )
    if cfg.save_strategy == "steps" and eval_steps and cfg.save_steps % eval_steps:
        raise ValidationError(f"training.config.save_steps: {cfg.save_steps} must be a multiple of eval_steps ({eval_steps}) for load_best_model_at_end")


def build_args(
    cfg: TrainingConfig,
    *,
    run_dir: Path,
    device: str,
    packing: bool,
    has_eval: bool,
    epochs: float,
    max_steps: int | None,
    seed: int,
    warn: Warn,
) -> Any:
    """Map every ``training.config`` field onto an SFTConfig (fallbacks reported through ``warn``)."""
    from trl import SFTConfig

    fp16, bf16 = _precision(cfg, device, warn)
    if cfg.use_unsloth:
        warn("training.config.use_unsloth: unsloth needs CUDA and the unsloth package; training with plain PEFT")
    eval_strategy = cfg.evaluation_strategy if has_eval else "no"
    eval_steps = cfg.eval_steps or cfg.logging_steps
    if eval_strategy != "no":
        _check_best_model(cfg, eval_steps)
    warmup: float = 0
    if cfg.warmup_steps is not None:
        warmup = cfg.warmup_steps
    elif cfg.warmup_ratio:
        warmup = cfg.warmup_ratio  # transformers reads a value < 1 as a share of the total steps
    return SFTConfig(
        output_dir=str(run_dir),
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps else -1,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_steps=warmup,
        lr_scheduler_type=_scheduler(cfg.lr_scheduler),
        save_strategy=cfg.save_strategy,
        save_steps=cfg.save_steps,
        save_total_limit=None,  # rotation is ours (kill-safe); cfg.save_total_limit applied in _save_checkpoint
        eval_strategy=eval_strategy,
        eval_steps=eval_steps if eval_strategy == "steps" else None,
        load_best_model_at_end=cfg.load_best_model_at_end and eval_strategy != "no",
        metric_for_best_model=cfg.metric_for_best_model if eval_strategy != "no" else None,
        greater_is_better=cfg.greater_is_better,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        max_length=cfg.max_seq_length,
        packing=packing,
        packing_strategy="bfd",
        padding_free=packing,
        eval_packing=packing,
        activation_checkpointing=cfg.gradient_checkpointing,  # transformers 5 name of gradient_checkpointing
        optim=_optim(cfg.optim, device, warn),
        seed=seed,
        data_seed=seed,
        fp16=fp16,
        bf16=bf16,
        use_cpu=device == "cpu",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="all" if packing else "non_padding",
        assistant_only_loss=False,  # labels come pre-masked from tokenization.py
        completion_only_loss=False,
        dataset_num_proc=None,
    )


def trainer_class() -> type:
    """``ExpertSFTTrainer`` (sft_trainer.py), imported on first use so this module doesn't import torch/TRL."""
    from expertkit.training.sft_trainer import ExpertSFTTrainer

    return ExpertSFTTrainer


def build_trainer(
    *,
    model: Any,
    tokenizer: Any,
    peft_config: Any,
    args: Any,
    train_rows: list[dict],
    eval_rows: list[dict] | None,
    callbacks: list[Any],
    save_total_limit: int | None,
) -> Any:
    """An ``ExpertSFTTrainer`` over pre-tokenized rows; PEFT wraps ``model`` inside."""
    from datasets import Dataset

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    train_ds = Dataset.from_list(train_rows)
    eval_ds = Dataset.from_list(eval_rows) if eval_rows else None
    cls = trainer_class()
    trainer = cls(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    trainer.save_total_limit = save_total_limit
    apply_speedups(trainer)  # switched by EXPERT_DISABLE_SPEEDUPS, recorded on trainer.expert_speedups (speedups.py)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)  # the library never prints; progress goes through callbacks.py events
    trainer.remove_callback(ProgressCallback)
    return trainer
