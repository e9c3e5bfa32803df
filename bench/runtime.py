"""Runtime speed on one base model: the fast decoder (`runtime/decoder.py`) with experts, against HF generate.

All figures come from one run; the variants are measured interleaved (round-robin, `--repeats`
rounds), so the machine's drift hits every variant alike, and the bounds are measured in the same run:
- copy bandwidth (a 256 MB tensor copy, read + write bytes / time) -> bandwidth_bound_tokens_per_s =
  bandwidth / bytes of weights read per token (every layer weight, the norms, the output head);
- matmul peak (a 1024^3 fp32 matmul) -> batch8_step_bound_ms = max(weights / bandwidth, batch-8 FLOPs / peak).
Per-token latency is the median interval between successive tokens of row 0 (decode steps only, no prefill).

Experts: random LoRA adapters (rank 16, alpha 32, non-zero B) on q/k/v/o/up/down_proj — the manifest
default targets — saved in PEFT format and attached from disk. For speed only shapes matter (the
matmuls cost the same for trained values), so this measures what a trained expert would cost.

`test_suite_s`: `expert-cli test --compare-base` through the library (`run_suite`, the CLI's own
path: the default backend, batch 8, perf measurement) on the demo's expert-sql suite — the
hand-written cases the demo compares with the base model — with ``--expert`` (a trained adapter
directory or .expert package; default: the bench's first random adapter, which answers no better
than the base and so tends to think or ramble longer than a trained expert). It is printed beside
the training time it is compared to (target: at most 25 %): ``--train-s``, else the
training_summary.json beside the adapter.

    .venv/bin/python bench/runtime.py --threads 1 --json          # smollm2-135m-instruct
    .venv/bin/python bench/runtime.py --model-dir /path/to/tiny --tokens 4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]  # the manifest default
ROOT = Path(__file__).resolve().parents[1]
SQL = ROOT / "examples" / "expert-sql"
QUESTIONS = ["Write an SQL query that lists the names of users older than 30, ordered by name.",
             "How many orders were placed last month? Answer with one SQL query.",
             "List the products cheaper than 20 dollars, most expensive first.",
             "Which employees earn more than 5000? Give the SQL."]


def make_adapters(model_dir: Path, out: Path, count: int, rank: int) -> list[Path]:
    """``count`` random LoRA adapters in PEFT format (B non-zero, so they change outputs like trained ones)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    paths = []
    for i in range(count):
        torch.manual_seed(100 + i)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False)
        peft_model = get_peft_model(model, config)
        peft_model.save_pretrained(str(out / f"e{i}"))
        model = peft_model.unload()
        paths.append(out / f"e{i}")
    return paths


def copy_bandwidth(mb: int = 256) -> float:
    """Bytes/s of a large tensor copy (read + write), best of 3."""
    import torch

    src = torch.ones(mb * 2**20 // 4)
    dst = torch.empty_like(src)
    best = min(_timed(lambda: dst.copy_(src)) for _ in range(3))
    return 2 * src.numel() * 4 / best


def matmul_peak(n: int = 1024) -> float:
    """FLOP/s of an n^3 fp32 matmul, best of 3."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = min(_timed(lambda: a @ b) for _ in range(3))
    return 2 * n**3 / best


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Stepper:
    """Per-token latency of a decoder run: median interval between row 0's successive tokens."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self, row: int, token: int) -> bool:
        if row == 0:
            self.stamps.append(time.perf_counter())
        return True

    def ms(self) -> float:
        steps = [(b - a) * 1000 for a, b in zip(self.stamps, self.stamps[1:], strict=False)]
        return statistics.median(steps) if steps else float("nan")


def matmul_floor_ms(decoder: Any, rows: int) -> float:
    """One decode step's matmuls alone (every layer's fused weights and the output head, the layout the
    decoder uses at ``rows`` rows, packed for batches): the step's time if everything else cost nothing.
    It tells the kernel's limit (GEMV/small-M GEMM vs the copy bandwidth) apart from the decoder's overhead."""
    import torch

    from expertkit.runtime.decoder_layers import matmul

    stack = decoder.stack
    packed = decoder.packed_for(rows)
    layers, head = packed if packed is not None else (stack.layers, stack.lm_head)
    weights = [layer[k] for layer in layers for k in ("qkv", "o", "gate_up", "down")] + [head]
    inputs = {n: torch.randn(rows, 1, n) for n in {stack.hidden, *stack.inputs.values()}}
    shape_in = [stack.inputs[k] for _ in layers for k in ("qkv", "o", "gate_up", "down")] + [stack.hidden]

    def step() -> None:
        for w, n in zip(weights, shape_in, strict=True):
            matmul(inputs[n], w)

    step()  # warm-up (first touch of packed buffers)
    return min(_timed(step) for _ in range(3)) * 1000


def decoder_step_ms(decoder: Any, prompts: list[list[int]], chains: list[tuple], tokens: int) -> float:
    stepper = Stepper()
    decoder.run(prompts, chains, max_new_tokens=tokens, stop_ids=[], on_token=stepper)
    return stepper.ms()


def hf_step_ms(model: Any, prompt: list[int], tokens: int) -> float:
    """HF generate, same prompt and length: median interval between its forward calls after the prefill."""
    import torch

    stamps: list[float] = []
    hook = model.register_forward_pre_hook(lambda *_: stamps.append(time.perf_counter()))
    try:
        with torch.inference_mode():
            model.generate(torch.tensor([prompt]), max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    finally:
        hook.remove()
    steps = [(b - a) * 1000 for a, b in zip(stamps[1:], stamps[2:], strict=False)]
    return statistics.median(steps)


def measure(args: argparse.Namespace, base: Any, decoder: Any, prompts: list[list[int]], names: list[str]) -> dict[str, Any]:
    """The interleaved rounds; returns per-variant samples."""
    one, mixed = [(names[0], 1.0)], [((n, 1.0),) for n in names[:4]]
    composed = ((names[0], 0.5), (names[1], 0.5))
    p0 = prompts[0]
    variants = {
        "copy_bw": lambda: copy_bandwidth(),
        "peak": lambda: matmul_peak(),
        "base": lambda: decoder_step_ms(decoder, [p0], [()], args.tokens),
        "expert": lambda: decoder_step_ms(decoder, [p0], [tuple(one)], args.tokens),
        "composed2": lambda: decoder_step_ms(decoder, [p0], [composed], args.tokens),
        "hf": lambda: hf_step_ms(base.model, p0, args.tokens),
        "floor1": lambda: matmul_floor_ms(decoder, 1),
        "floor8": lambda: matmul_floor_ms(decoder, 8),
        "batch8": lambda: decoder_step_ms(decoder, [prompts[i % len(prompts)] for i in range(8)], [()] * 8, args.batch_tokens),
        "mixed": lambda: _timed(lambda: decoder.run(prompts[:4], mixed, max_new_tokens=args.tokens, stop_ids=[])),
        "sequential": lambda: _timed(lambda: [decoder.run([p], [c], max_new_tokens=args.tokens, stop_ids=[])
                                              for p, c in zip(prompts[:4], mixed, strict=True)]),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    decoder_step_ms(decoder, [p0], [composed], 2)  # warm-up; merges the composition once (cached after)
    for _ in range(args.repeats):
        for key, fn in variants.items():
            samples[key].append(fn())
    return samples


def swap_ms(decoder: Any, names: list[str], count: int = 200) -> list[float]:
    """Switch between two attached experts (the weights a batch decodes with), ``count`` times."""
    times = []
    for i in range(count):
        chain = ((names[i % 2], 1.0),)
        started = time.perf_counter()
        decoder.weights_for(chain)
        times.append((time.perf_counter() - started) * 1000)
    return times


def attach_ms(decoder: Any, path: Path, count: int = 3) -> float:
    """Median cold attach (read from disk, shape checks, DoRA norms) of one expert; usable at once (per-row path)."""
    times = []
    for _ in range(count):
        decoder.detach("cold")
        times.append(decoder.attach("cold", path).attach_ms)
    decoder.detach("cold")
    return statistics.median(times)


def prompt_ids(tokenizer: Any) -> list[list[int]]:
    from expertkit.runtime.prompts import Request, build_prompt

    return [tokenizer(build_prompt(Request(input=q).to_messages(None), None), add_special_tokens=False)["input_ids"]
            for q in QUESTIONS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model alias/name (see `expert-cli models list`)")
    parser.add_argument("--model-dir", type=Path, help="a local HF model directory instead of --model")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=24, help="new tokens per single-stream / mixed run")
    parser.add_argument("--batch-tokens", type=int, default=8, help="new tokens per batch-8 run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--expert", type=Path, help="adapter dir or .expert file for test_suite_s (default: a random adapter)")
    parser.add_argument("--suite-manifest", type=Path, default=SQL / "manifest.json", help="manifest of the timed suite")
    parser.add_argument("--suite-cases", type=Path, help="cases file (default: tests/handwritten_cases.json beside the manifest)")
    parser.add_argument("--suite-category", help="only this category of the suite (as the demo's DEMO_CATEGORY)")
    parser.add_argument("--train-s", type=float, help="training wall time to compare test_suite_s with")
    args = parser.parse_args(argv)

    import torch

    from expertkit.models.loading import load_base
    from expertkit.runtime.decoder import Decoder

    if args.threads:
        torch.set_num_threads(args.threads)
    base = load_base(str(args.model_dir) if args.model_dir else args.model, device="cpu")
    base.model.eval()
    decoder = Decoder(base.model, share=False)  # its own copy: HF generate keeps its untouched layout
    prompts = prompt_ids(base.tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_adapters(base.resolved.path, Path(tmp), 4, args.rank)
        cold = attach_ms(decoder, paths[0])
        names = [f"expert-{i}" for i in range(4)]
        for name, path in zip(names, paths, strict=True):
            decoder.attach(name, path)
        merge_ms = [decoder.prepare(n) for n in names]  # what a first single-expert batch would pay once
        swaps = swap_ms(decoder, names)
        samples = measure(args, base, decoder, prompts, names)
        result = summarise(samples, swaps, cold, decoder, names)
        report(result, samples, merge_ms, decoder, names, args, sys.stderr if args.json else sys.stdout)
        del decoder, base  # the suite loads its own engine, as the CLI does
        result.update(suite(args, args.expert or paths[0], sys.stderr if args.json else sys.stdout))
    if args.json:  # the figures alone on stdout; the details went to stderr
        print(json.dumps(result))
    return 0


def suite(args: argparse.Namespace, adapter: Path, out: Any) -> dict[str, Any]:
    """Time `run_suite` with compare_base (what `expert-cli test --compare-base` runs) on the suite."""
    from expertkit.evaluation.runner import run_suite

    manifest = args.suite_manifest
    cases = args.suite_cases or manifest.parent / "tests" / "handwritten_cases.json"
    started = time.perf_counter()
    result = run_suite(manifest, adapter, cases_path=cases, categories=[args.suite_category] if args.suite_category else None,
                       compare_base=True)
    seconds = time.perf_counter() - started
    train_s = args.train_s
    summary = result.training.summary_path
    if train_s is None and summary is not None:
        train_s = json.loads(summary.read_text()).get("wall_time_s")
    reasons = sorted({r.finish_reason for r in result.expert + (result.base or [])})
    print(f"test --compare-base on {cases.name}: {result.total} cases x 2 (expert, base) in {seconds:.1f} s "
          f"(expert {result.passed}/{result.total}, finish reasons {', '.join(reasons)}); adapter {adapter}; "
          f"training {'unknown (--train-s)' if train_s is None else f'{train_s:.1f} s -> ratio {seconds / train_s:.3f} (target <= 0.25)'}",
          file=out)
    return {"test_suite_s": round(seconds, 1), "test_suite_cases": result.total,
            "test_suite_train_s": None if train_s is None else round(train_s, 1),
            "test_suite_vs_training": None if train_s is None else round(seconds / train_s, 3)}


def summarise(samples: dict[str, list[float]], swaps: list[float], cold: float, decoder: Any, names: list[str]) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in samples.items()}
    weights_bytes = decoder.stack.nbytes()
    batch8_flops = 2 * 8 * (weights_bytes / decoder.stack.lm_head.element_size())
    swaps_sorted = sorted(swaps)
    return {
        "cold_attach_ms": round(cold, 2),
        "hot_swap_ms_median": round(statistics.median(swaps), 4),
        "hot_swap_ms_p99": round(swaps_sorted[int(0.99 * (len(swaps_sorted) - 1))], 4),
        "token_latency_ratio_expert": round(_ratio(samples["expert"], samples["base"]), 3),
        "token_latency_ratio_composed2": round(_ratio(samples["composed2"], samples["base"]), 3),
        "mixed_batch_speedup": round(_ratio(samples["sequential"], samples["mixed"]), 3),
        "base_tokens_per_s": round(1000 / med["base"], 2),
        "bandwidth_bound_tokens_per_s": round(med["copy_bw"] / weights_bytes, 2),
        "batch8_step_ms": round(med["batch8"], 2),
        # the step's matmuls alone, same kernels and layout: the ceiling of this decoder design on this CPU
        "matmul_floor_tokens_per_s": round(1000 / med["floor1"], 2),
        "batch8_matmul_floor_ms": round(med["floor8"], 2),
        "batch8_step_bound_ms": round(1000 * max(weights_bytes / med["copy_bw"], batch8_flops / med["peak"]), 2),
        # an attached expert with its merged weights cached (what the single-expert speed needs), and without
        # (the per-row path's cost; what remains when the pool's budget sheds the merged copy)
        "ram_mb_per_expert": round(statistics.median(decoder.memory_bytes(n) for n in names) / 2**20, 2),
        "ram_mb_per_expert_unmerged": round(statistics.median(decoder.experts[n].nbytes for n in names) / 2**20, 2),
        "hf_generate_tokens_per_s": round(1000 / med["hf"], 2),
    }


def _ratio(num: list[float], den: list[float]) -> float:
    """Median of the per-round ratios (each round's pair was measured back to back)."""
    return statistics.median(a / b for a, b in zip(num, den, strict=True))


def report(result: dict[str, Any], samples: dict[str, list[float]], merge_ms: list[float], decoder: Any, names: list[str],
           args: argparse.Namespace, out: Any) -> None:
    import torch

    e = decoder.experts[names[0]]
    print(f"threads {torch.get_num_threads()}, {args.tokens} new tokens ({args.batch_tokens} at batch 8), "
          f"{args.repeats} interleaved rounds; experts: random LoRA r={args.rank} on {','.join(TARGETS)}", file=out)
    print(f"weights read per token {decoder.stack.nbytes() / 2**20:.1f} MB; expert: adapter {e.nbytes / 2**20:.1f} MB "
          f"+ merged weights {(decoder.memory_bytes(names[0]) - e.nbytes) / 2**20:.1f} MB, "
          f"built in {statistics.median(merge_ms):.0f} ms (median; once per expert, on first use or by prepare())", file=out)
    for key, values in samples.items():
        unit = {"copy_bw": "GB/s", "peak": "GFLOP/s", "floor1": "ms/step", "floor8": "ms/step", "mixed": "s", "sequential": "s"}.get(key, "ms/token")
        scale = 1e-9 if key in ("copy_bw", "peak") else 1.0
        print(f"  {key:12}{unit:>10}  " + ", ".join(f"{v * scale:.2f}" for v in values), file=out)
    for key, value in result.items():
        print(f"{key:32}{value}", file=out)
    print(f"base vs bound {result['base_tokens_per_s'] / result['bandwidth_bound_tokens_per_s']:.2f} "
          f"(the matmuls alone: {result['matmul_floor_tokens_per_s'] / result['bandwidth_bound_tokens_per_s']:.2f}); "
          f"decoder vs HF generate {result['base_tokens_per_s'] / result['hf_generate_tokens_per_s']:.2f}x", file=out)


if __name__ == "__main__":
    sys.exit(main())
