"""Training throughput: `expert-cli train`'s trainer vs a plain PEFT LoRA + transformers Trainer.

Both run N optimizer steps in this one process, on the same chat examples (lengths drawn
uniformly from 30-400 tokens, like real data), with the same per-device batch size and the same
LoRA config, on the real default base model (SmolLM2-135M-Instruct):

* ours: pre-tokenized rows with assistant-only labels, TRL SFTTrainer, bfd packing + padding-free
  rows (a batch = ``batch_size`` rows of up to ``max_seq_length`` tokens, several examples each).
* baseline: ``text`` tokenized per example, ``DataCollatorForLanguageModeling`` (dynamic padding,
  labels = input_ids), ``transformers.Trainer``.

Printed: useful (non-pad) tokens/s of both and their ratio; model FLOP/s against an fp32 matmul
peak measured around each run; DoRA's and IA3's cost relative to LoRA (our trainer). Model FLOPs
are those a standard step on a frozen base must do, per useful token: 4 x body params (forward + input-gradient
backward; frozen weights get no weight gradient, so the usual 6N would overstate it by 1.5x) plus
4 x hidden x vocab for the LM head on every token; plus causal self-attention within each example,
6 x layers x (heads x head_dim) x L^2 per example of L tokens (QK^T and AV forward = 2 x that
width x L^2 with the causal half, backward twice the forward), as in PaLM's MFU but counting the
causal half only. Adapter FLOPs are not counted, nor FLOPs a trainer wastes (padding, attention
across packed examples) or skips (our head only runs on labelled tokens): the figure is work the
task needed per second, comparable across trainers. The first ``--warmup`` steps of every run are
not timed.

Our trainer sets glibc's malloc to keep freed memory (``expertkit/training/memory.py``), which is
process-wide and can't be undone, so the baseline runs first, under the default allocator, as a
plain ``transformers.Trainer`` user gets it; and once more at the end ("baseline+malloc"), so the
printout shows how much of the ratio is the allocator and how much the trainer.

    .venv/bin/python bench/train_throughput.py --steps 12            # model via the alias
    .venv/bin/python bench/train_throughput.py --model-dir PATH --methods lora,dora,ia3
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = ("select name email from users where age order by limit join orders group count sum avg "
         "products price category between and or not null like distinct having customer id date").split()


def make_examples(tokenizer: Any, n: int, seed: int) -> list[dict]:
    """Chat examples whose total length is ~uniform in 30-400 tokens (the answer is half of it)."""
    from expertkit.data.chat_format import format_chat

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        target = rng.randint(30, 400)
        words = max(4, int(target * 0.8)) // 2  # ~1.2 tokens/word after the ~12-token template
        question = " ".join(rng.choice(WORDS) for _ in range(words))
        answer = "SELECT " + " ".join(rng.choice(WORDS) for _ in range(words)) + ";"
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        rows.append({"text": format_chat(messages), "messages": messages})
    return rows


class CountingCollator:
    """Wraps a collator; records every batch's useful (non-pad) tokens and sum of squared example lengths."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.tokens, self.squares = inner, [], []

    def __call__(self, features: list) -> dict:
        batch = self.inner(features)
        mask = batch.get("attention_mask")
        if mask is not None:  # padded rows: one example per row
            lengths = mask.sum(dim=1).tolist()
        else:  # padding-free packed rows: examples start where position_ids restart at 0
            pos = batch["position_ids"].flatten()
            starts = (pos == 0).nonzero().flatten().tolist() + [pos.numel()]
            lengths = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        self.tokens.append(int(sum(lengths)))
        self.squares.append(int(sum(n * n for n in lengths)))
        return batch


def step_timer() -> Any:
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            torch.cuda.synchronize() if torch.cuda.is_available() else None
            self.times.append(time.perf_counter() - self.t0)

    return StepTimer()


def lora_config(rank: int, method: str) -> Any:
    from peft import IA3Config, LoraConfig

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
    if method == "ia3":
        return IA3Config(task_type="CAUSAL_LM", target_modules=targets, feedforward_modules=["up_proj", "down_proj"])
    return LoraConfig(task_type="CAUSAL_LM", r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=targets,
                      use_dora=method == "dora")


def run_ours(model_dir: Path, rows: list[dict], a: argparse.Namespace, method: str, out: Path) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expertkit.manifest.model import TrainingConfig
    from expertkit.training.tokenization import Example, tokenize_examples
    from expertkit.training.trainer import build_args, build_trainer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="float32")
    cfg = TrainingConfig(adapter_type="lora", rank=a.rank, max_seq_length=a.max_seq_length, batch_size=a.batch_size,
                         lr_scheduler="constant", save_strategy="no", logging_steps=10_000, learning_rate=1e-4)
    split = tokenize_examples([Example(r["messages"], i) for i, r in enumerate(rows)], tok, a.max_seq_length, out / "x")
    args = build_args(cfg, run_dir=out / f"ours-{method}", device="cpu", packing=True, has_eval=False, epochs=100,
                      max_steps=a.steps, seed=0, warn=lambda m: None)
    trainer = build_trainer(model=model, tokenizer=tok, peft_config=lora_config(a.rank, method), args=args,
                            train_rows=split.rows, eval_rows=None, callbacks=[], save_total_limit=None)
    return timed(trainer, a)


def run_baseline(model_dir: Path, rows: list[dict], a: argparse.Namespace, out: Path) -> dict:
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="float32"), lora_config(a.rank, "lora"))
    ds = Dataset.from_list([{"text": r["text"]} for r in rows])
    ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=a.max_seq_length), batched=True, remove_columns=["text"])
    args = TrainingArguments(output_dir=str(out / "baseline"), per_device_train_batch_size=a.batch_size, max_steps=a.steps,
                             learning_rate=1e-4, lr_scheduler_type="constant", save_strategy="no", logging_steps=10_000,
                             report_to="none", use_cpu=True, disable_tqdm=True, seed=0, dataloader_num_workers=0)
    collator = DataCollatorForLanguageModeling(tok, mlm=False)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return timed(trainer, a)


def timed(trainer: Any, a: argparse.Namespace) -> dict:
    trainer.data_collator = CountingCollator(trainer.data_collator)
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    tokens = trainer.data_collator.tokens[a.warmup: len(timer.times)]
    squares = trainer.data_collator.squares[a.warmup: len(timer.times)]
    seconds = sum(timer.times[a.warmup:])
    flops = flops_per_token(trainer.model) * sum(tokens) + attention_flops(trainer.model, sum(squares))
    return {"tokens_per_s": sum(tokens) / seconds, "steps": len(timer.times) - a.warmup, "seconds": seconds,
            "tokens_per_step": sum(tokens) / max(len(tokens), 1), "flops_per_s": flops / seconds}


def flops_per_token(model: Any) -> float:
    """4 x frozen body params + 4 x LM head params (see the module docstring)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = {id(p): p for n, p in base.named_parameters() if "lora_" not in n and "ia3_" not in n}
    head = base.get_output_embeddings().weight.numel()
    embed_ids = {id(base.get_input_embeddings().weight), id(base.get_output_embeddings().weight)}
    body = sum(p.numel() for i, p in params.items() if i not in embed_ids)
    return 4 * body + 4 * head


def attention_flops(model: Any, sum_of_squared_lengths: int) -> float:
    """Causal attention within examples, forward + backward: 6 x layers x width x sum(L^2)."""
    cfg = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    width = cfg.num_attention_heads * head_dim
    return 6 * cfg.num_hidden_layers * width * sum_of_squared_lengths


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048, 3072), reps: int = 8) -> float:
    """fp32 matmul FLOP/s on this machine (all torch threads): the best over a few sizes and ``reps``."""
    import torch

    best = 0.0
    for n in sizes:
        x, y = torch.randn(n, n), torch.randn(n, n)
        x @ y
        for _ in range(reps):
            t = time.perf_counter()
            x @ y
            best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def measured(name: str, run: Any) -> dict:
    """``run()``'s result, printed against the better of two matmul peaks, just before and just after it.

    This VM's speed drifts by up to 2x over minutes (other tenants), so a peak taken once at the
    start says little about a run ten minutes later; each run gets its own.
    """
    peak = matmul_peak()
    r = run()
    peak = max(peak, matmul_peak())
    flops = r["flops_per_s"]
    print(f"{name:15s} {r['tokens_per_s']:9.1f} useful tokens/s  {r['tokens_per_step']:7.0f} tokens/step  "
          f"{flops / 1e9:7.1f} GFLOP/s = {100 * flops / peak:5.1f}% of peak ({peak / 1e9:.0f} GFLOP/s)", flush=True)
    return r


def resolve_model_dir(a: argparse.Namespace) -> Path:
    if a.model_dir:
        return Path(a.model_dir)
    from expertkit.models.resolve import resolve_model

    return resolve_model("smollm2-135m-instruct").path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model-dir", help="HF model dir (default: the smollm2-135m-instruct alias)")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-seq-length", type=int, default=512)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--examples", type=int, default=600)
    p.add_argument("--methods", default="lora,dora,ia3", help="our-trainer methods; lora is always run")
    p.add_argument("--no-allocator-baseline", action="store_true",
                   help="skip the last run: the baseline again, under the malloc setting our trainer made")
    a = p.parse_args()
    import torch
    from transformers.utils import logging as tf_logging

    tf_logging.set_verbosity_error()
    tf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    model_dir = resolve_model_dir(a)
    from transformers import AutoTokenizer

    rows = make_examples(AutoTokenizer.from_pretrained(str(model_dir)), a.examples, seed=0)
    print(f"model {model_dir}  torch threads {torch.get_num_threads()}")
    print(f"{a.steps} steps ({a.warmup} untimed), batch size {a.batch_size}, max_seq_length {a.max_seq_length}, examples 30-400 tokens")
    methods = ["lora"] + [m for m in a.methods.split(",") if m and m != "lora"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        results["baseline lora"] = measured("baseline lora", lambda: run_baseline(model_dir, rows, a, out))
        for m in methods:
            results[f"ours {m}"] = measured(f"ours {m}", lambda m=m: run_ours(model_dir, rows, a, m, out))
        if not a.no_allocator_baseline:  # ours left malloc keeping freed memory (process-wide): the baseline with it too
            results["baseline+malloc"] = measured("baseline+malloc", lambda: run_baseline(model_dir, rows, a, out))
    base, ours = results["baseline lora"], results["ours lora"]
    print(f"ratio ours/baseline (useful tokens/s): {ours['tokens_per_s'] / base['tokens_per_s']:.2f}x")
    if "baseline+malloc" in results:
        tuned = results["baseline+malloc"]["tokens_per_s"]
        print(f"ratio ours/baseline with our malloc setting too: {ours['tokens_per_s'] / tuned:.2f}x")
    for m in methods[1:]:
        print(f"{m} cost vs lora (our trainer): {ours['tokens_per_s'] / results[f'ours {m}']['tokens_per_s']:.2f}x time per token")


if __name__ == "__main__":
    main()
