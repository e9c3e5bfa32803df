"""`expert-cli train`: train the manifest's adapter (or a soft prompt) on its dataset.

Human output: warnings, a rich progress bar (step, loss, lr, tokens/s, ETA) and evaluation /
checkpoint lines on stderr; the result lines on stdout. `--json-logs` replaces all of it with one
JSON object per event on stdout (kinds: warning, note, start, log, eval, checkpoint, end; see
`expertkit.training.callbacks`), so `expert-cli train --json-logs > train.log.jsonl` keeps a log.
The same command runs unchanged under `accelerate launch` (DDP / FSDP / DeepSpeed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from expertkit.cli.options import DeviceOpt, ManifestOpt, ModelOpt, SeedOpt, ThreadsOpt, use_threads


def register(app: typer.Typer) -> None:
    app.command("train", help="Train the expert's adapter (lora, dora, ia3) or a soft prompt; writes weights/<model>/.")(train)


def train(
    manifest: ManifestOpt = Path("manifest.json"),
    dataset: Annotated[Path | None, typer.Option("--dataset", help="Training split (default: training.dataset.path).")] = None,
    validation: Annotated[
        Path | None, typer.Option("--validation", help="Validation split (default: training.dataset.validation_path).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output root (default: weights/ beside the manifest).")] = None,
    model: ModelOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the latest complete checkpoint, or the CHECKPOINT given after it.")
    ] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Argument(metavar="CHECKPOINT", show_default=False, help="With --resume: the checkpoint-N directory (default: the latest)."),
    ] = None,
    device: DeviceOpt = "auto",
    epochs: Annotated[float | None, typer.Option("--epochs", help="Override training.config.epochs (fractional allowed).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Override training.config.max_steps.")] = None,
    seed: SeedOpt = None,
    soft_prompt: Annotated[
        str | None, typer.Option("--soft-prompt", help="Train this soft_prompts[] entry (prompt tuning) instead of the adapter.")
    ] = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="One JSON object per event on stdout instead of the progress bar.")] = False,
    threads: ThreadsOpt = None,
) -> None:
    from expertkit.errors import UsageError
    from expertkit.training.run import TrainOptions
    from expertkit.training.run import train as run_training

    if checkpoint is not None and not resume:
        raise UsageError(f"unexpected argument {checkpoint}: a checkpoint is given as `--resume {checkpoint}`")
    options = TrainOptions(
        dataset=dataset, validation=validation, output=output, model=model,
        resume=checkpoint if checkpoint is not None else resume,
        device=device, epochs=epochs, max_steps=max_steps, seed=seed, soft_prompt=soft_prompt,
    )
    use_threads(threads)
    view = JsonEvents() if json_logs else RichEvents()
    try:
        result = run_training(manifest, options, on_event=view)
    finally:
        view.close()
    if not json_logs and result.summary:
        s = result.summary
        typer.echo(f"✓ trained {s['adapter']['method']} for {s['base_model']['name']}: {s['steps']} steps, "
                   f"{s['tokens_seen']} tokens, {s['wall_time_s']:.1f} s ({s['tokens_per_second']} tokens/s)")
        typer.echo(f"  final adapter: {result.final_dir} ({s['final']['from']})")
        typer.echo(f"  summary: {result.summary_path}  plot: {result.run_dir / 'loss.png'}")


class JsonEvents:
    """Each event as one JSON line on stdout (flushed, so a pipe sees it at once)."""

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "step":
            return  # per-step ticks are for the progress bar; `log` events carry the numbers
        sys.stdout.write(json.dumps(event, default=str) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class RichEvents:
    """A rich progress bar plus one line per warning, evaluation and checkpoint, on stderr."""

    def __init__(self) -> None:
        from expertkit.cli.output import Output

        self.console = Output().err
        self.progress: Any = None
        self.task: Any = None
        self.fields = {"loss": "-", "lr": "-", "tps": "-"}

    def _bar(self, total: int, start: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[tps]} tok/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=total, completed=start, **self.fields)

    def __call__(self, event: dict[str, Any]) -> None:
        from rich.markup import escape

        kind = event.get("event")
        if kind == "warning":
            self.console.print(f"[yellow]warning:[/] {escape(event['message'])}")
        elif kind == "note":
            self.console.print(f"[dim]note: {escape(event['message'])}[/]")
        elif kind == "start":
            resumed = f", resuming {event['resumed_from']}" if event.get("resumed_from") else ""
            self.console.print(f"training {event['adapter']} on {event['base_model']} ({event['device']}, "
                               f"{event['examples']} examples, packing {'on' if event['packing'] else 'off'}{resumed})")
        elif kind == "step":
            if self.progress is None:
                self._bar(event["total_steps"], event.get("start_step", 0))
            self.fields["tps"] = f"{event['tokens_per_second']:.0f}"
            self.progress.update(self.task, completed=event["step"], **self.fields)
        elif kind == "log":
            self.fields["loss"] = f"{event['loss']:.4f}"
            self.fields["lr"] = f"{event.get('learning_rate', 0):.2e}"
            if self.progress is not None:
                self.progress.update(self.task, **self.fields)
            if not self.console.is_terminal:  # a log file or pipe shows no live bar: one line per log step
                total = self.progress.tasks[0].total if self.progress is not None else "?"
                self.console.print(f"step {event.get('step', '?')}/{total}  loss {self.fields['loss']}  "
                                   f"lr {self.fields['lr']}  {self.fields['tps']} tok/s")
        elif kind == "eval":
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in event.items() if k.startswith("eval_") and "runtime" not in k and "per_second" not in k)
            self.console.print(f"step {event['step']}: {metrics}")
        elif kind == "checkpoint":
            self.console.print(f"[dim]checkpoint saved: {escape(event['path'])}[/]")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
