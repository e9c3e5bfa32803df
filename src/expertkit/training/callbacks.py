"""Training events for whoever shows them, and keeping library chatter off the terminal.

The library never prints: ``EventCallback`` turns Trainer hooks into plain dict events passed to
a sink the caller provides (the CLI draws a rich progress bar from them, or writes them as JSON
lines). Event kinds (``event`` key):

* ``warning``  something asked for could not be done as asked (what happens instead is said)
* ``note``     informational (what a library logged, where rejected examples went)
* ``start``    run_dir, total_steps, start_step, examples, adapter, resumed_from
* ``step``     step, total_steps, tokens_seen, tokens_per_second, elapsed_s (every optimizer step)
* ``log``      step, loss, learning_rate, grad_norm, epoch, tokens_seen, tokens_per_second
* ``eval``     step, eval_loss and the other eval metrics
* ``checkpoint`` step, path
* ``end``      final_dir, summary path, steps, wall_time_s

Only the main process emits (under ``accelerate launch`` every rank runs the callback).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

EventSink = Callable[[dict[str, Any]], None]
_LIBRARY_LOGGERS = ("trl", "peft", "accelerate", "datasets", "torch")
_SKIP_LOG_KEYS = {"total_flos", "num_tokens"}


def make_event_callback(sink: EventSink, run_dir: Path) -> Any:
    """A ``TrainerCallback`` that reports through ``sink`` (built lazily: importing transformers is slow)."""
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.start_tokens = 0
            self.start_step = 0

        def _rate(self, state: Any) -> tuple[int, float, float]:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            return tokens, (tokens - self.start_tokens) / elapsed, elapsed

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.monotonic()
            self.start_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            self.start_step = state.global_step

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            tokens, rate, elapsed = self._rate(state)
            sink({"event": "step", "step": state.global_step, "total_steps": state.max_steps, "tokens_seen": tokens,
                  "tokens_per_second": round(rate, 1), "elapsed_s": round(elapsed, 2), "start_step": self.start_step})

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            if any(k.startswith("eval_") for k in logs):
                metrics = {k: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, (int, float)) and k != "eval_num_tokens"}
                sink({"event": "eval", "step": state.global_step, **metrics})
                return
            if "loss" not in logs:
                return  # the end-of-training speed metrics; the summary has them
            tokens, rate, _ = self._rate(state)
            event = {"event": "log", "step": state.global_step, "total_steps": state.max_steps}
            event.update({k: v for k, v in logs.items() if isinstance(v, (int, float)) and k not in _SKIP_LOG_KEYS})
            event.update({"tokens_seen": tokens, "tokens_per_second": round(rate, 1)})
            sink(event)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                sink({"event": "checkpoint", "step": state.global_step, "path": str(run_dir / f"checkpoint-{state.global_step}")})

    return EventCallback()


class _Forward(logging.Handler):
    def __init__(self, sink: EventSink, seen: set[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink, self.seen = sink, seen

    def emit(self, record: logging.LogRecord) -> None:
        message = f"{record.name.split('.')[0]}: {record.getMessage()}"
        if message not in self.seen:
            self.seen.add(message)
            self.sink({"event": "note", "message": message})


@contextlib.contextmanager
def quiet_libraries(sink: EventSink) -> Iterator[None]:
    """Route transformers/TRL/PEFT/datasets logging and warnings to ``sink`` as notes, hide their progress bars."""
    import datasets
    import transformers

    seen: set[str] = set()
    handler = _Forward(sink, seen)
    tf_logging = transformers.utils.logging
    tf_bars, ds_bars = tf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    tf_logging.disable_default_handler()
    loggers = [logging.getLogger("transformers")] + [logging.getLogger(n) for n in _LIBRARY_LOGGERS]
    propagate = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            yield
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning, PendingDeprecationWarning)):
                continue  # library-internal API churn: nothing the user can act on
            message = f"{w.category.__name__}: {w.message}"
            if message not in seen:
                seen.add(message)
                sink({"event": "note", "message": message})
    finally:
        for lg, prop in zip(loggers, propagate, strict=True):
            lg.removeHandler(handler)
            lg.propagate = prop
        tf_logging.enable_default_handler()
        if tf_bars:
            tf_logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()
