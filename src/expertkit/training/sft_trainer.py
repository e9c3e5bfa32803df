"""``ExpertSFTTrainer``: TRL's SFTTrainer with pickle-free, atomically published checkpoints and
the answer-only loss (see trainer.py for the why). Imports torch, transformers and TRL: import it
lazily (``trainer.trainer_class()`` does).

It overrides transformers' private ``_save``, ``_save_checkpoint``, ``_load_optimizer_and_scheduler``
and ``_load_rng_state`` and reads TRL's ``_metrics``, ``_total_train_tokens`` and ``_tp_size``:
tests/training/test_private_api_canary.py checks each still exists with the signature used here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers.trainer import TRAINING_ARGS_NAME
from trl import SFTTrainer

from expertkit.training import checkpoints as ckpt
from expertkit.training.answer_loss import answer_only_loss, supports_answer_loss


class ExpertSFTTrainer(SFTTrainer):
    """SFTTrainer whose checkpoints are pickle-free and published atomically."""

    save_total_limit: int | None = None

    def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        if return_outputs or not self._answer_loss_applies(model, inputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        result = answer_only_loss(model, inputs, num_items_in_batch)
        loss = result.loss
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())  # as TRL: DDP averages grads
        self._log_answer_metrics(inputs, result)
        return loss

    def _answer_loss_applies(self, model: Any, inputs: dict) -> bool:
        return ("labels" in inputs and self.compute_loss_func is None and self.label_smoother is None
                and self.args.loss_type == "nll" and not self.aux_loss_enabled and supports_answer_loss(model))

    def _log_answer_metrics(self, inputs: dict, result: Any) -> None:
        """The metrics TRL's compute_loss records (entropy, token accuracy, tokens seen)."""
        mode = "train" if self.model.training else "eval"
        gather = self.accelerator.gather_for_metrics
        valid = gather(result.num_valid).sum()
        if valid > 0:
            self._metrics[mode]["entropy"].append((gather(result.entropy_sum).sum() / valid).item())
            self._metrics[mode]["mean_token_accuracy"].append((gather(result.num_correct).sum() / valid).item())
        if mode == "train":
            import torch

            ids = inputs["input_ids"]
            local = inputs["attention_mask"].sum() if "attention_mask" in inputs else torch.tensor(ids.numel())
            self._total_train_tokens += gather(local.to(ids.device)).sum().item() // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        target = Path(output_dir or self.args.output_dir)
        if self.args.should_save:
            (target / TRAINING_ARGS_NAME).unlink(missing_ok=True)  # a pickle; JSON instead
            from expertkit.atomic import write_text

            write_text(target / "training_args.json", self.args.to_json_string())

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        step = self.state.global_step
        run_dir = Path(self._get_output_dir(trial=trial))
        final = run_dir / f"checkpoint-{step}"
        tmp = ckpt.tmp_dir_for(final)
        if self.args.should_save:
            if tmp.exists():
                import shutil

                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        self.store_flos()
        self.save_model(str(tmp), _internal_call=True)
        self._track_best(run_dir, step)
        if not self.args.save_only_model:
            self._save_states(tmp)
        if self.args.should_save:
            self._export_callback_states()
            self.state.save_to_json(str(tmp / "trainer_state.json"))
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            ckpt.publish(tmp, final, step)
            best = {Path(self.state.best_model_checkpoint)} if self.state.best_model_checkpoint else set()
            ckpt.rotate(run_dir, self.save_total_limit, best)

    def _track_best(self, run_dir: Path, step: int) -> None:
        best_step = self.state.best_global_step
        if self.args.save_strategy in ("steps", "epoch", "best") and best_step:
            best_dir = run_dir / f"checkpoint-{best_step}"
            if best_step == step or best_dir.exists():
                self.state.best_model_checkpoint = str(best_dir)

    def _save_states(self, directory: Path) -> None:
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            # Those engines shard optimizer state in their own formats (documented limitation).
            super()._save_optimizer_and_scheduler(str(directory))
        elif self.args.should_save:
            ckpt.save_tree(directory, "optimizer", self.optimizer.state_dict())
            ckpt.save_tree(directory, "scheduler", self.lr_scheduler.state_dict())
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None and self.args.should_save:
            ckpt.save_tree(directory, "scaler", scaler.state_dict())
        ckpt.save_tree(directory, f"rng_state_{self.args.process_index}", ckpt.rng_state())

    def _export_callback_states(self) -> None:
        from transformers.trainer_callback import ExportableState

        for cb in [c for c in self.callback_handler.callbacks + [self.control] if isinstance(c, ExportableState)]:
            name = cb.__class__.__name__
            if isinstance(self.state.stateful_callbacks.get(name), list):
                self.state.stateful_callbacks[name].append(cb.state())
            else:
                self.state.stateful_callbacks[name] = cb.state()

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        if checkpoint is None:
            return
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return super()._load_optimizer_and_scheduler(checkpoint)
        directory = Path(checkpoint)
        if not (directory / "optimizer.json").is_file():
            return
        self.optimizer.load_state_dict(ckpt.load_tree(directory, "optimizer"))
        self.lr_scheduler.load_state_dict(ckpt.load_tree(directory, "scheduler"))
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None and (directory / "scaler.json").is_file():
            scaler.load_state_dict(ckpt.load_tree(directory, "scaler"))

    def _load_rng_state(self, checkpoint: str | None) -> None:
        if checkpoint is None:
            return
        directory = Path(checkpoint)
        stem = f"rng_state_{self.args.process_index}"
        if not (directory / f"{stem}.json").is_file():
            stem = "rng_state_0"  # a different world size: reuse rank 0's state, like transformers
        if (directory / f"{stem}.json").is_file():
            ckpt.set_rng_state(ckpt.load_tree(directory, stem))
