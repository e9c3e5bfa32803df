"""Per-token generation latency: base model vs base + adapter (PEFT LoRA/DoRA, unmerged).

The same loaded weights serve both sides (the adapter is switched off with PEFT's
`disable_adapter()`), runs are interleaved, and each run's figure is the median time between
decoding steps after the prefill (`expertkit.evaluation.timing`). Prints both medians and the ratio
(the composition issue targets <= 1.05x).

    .venv/bin/python bench/adapter_overhead.py                          # smollm2-135m-instruct, random LoRA r=16
    .venv/bin/python bench/adapter_overhead.py --adapter weights/<slug>/final
    .venv/bin/python bench/adapter_overhead.py --model-dir /path/to/tiny --tokens 16 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]  # the manifest default


def random_adapter(model_dir: Path, out: Path, kind: str, rank: int) -> Path:
    """A random (non-zero) adapter of ``kind`` saved in PEFT format: same cost as a trained one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, use_dora=kind == "dora", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model alias/name (see `expert-cli models list`)")
    parser.add_argument("--model-dir", type=Path, help="a local HF model directory instead of --model")
    parser.add_argument("--adapter", type=Path, help="PEFT adapter dir or .expert (default: a random adapter)")
    parser.add_argument("--kind", choices=["lora", "dora"], default="lora", help="random adapter type")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    from expertkit.evaluation.timing import compare_latency
    from expertkit.models.loading import load_base
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import DecodingSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    base = load_base(str(args.model_dir) if args.model_dir else args.model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        adapter_dir = args.adapter or random_adapter(base.resolved.path, Path(tmp) / "adapter", args.kind, args.rank)
        engine = InferenceEngine(base, DecodingSettings())
        expert = engine.attach(adapter_dir, name="adapter")
        prompt = "Write an SQL query that lists the names of users older than 30, ordered by name."
        samples = compare_latency(engine, prompt, {"base": {"experts": []}, "adapter": {"experts": ["adapter"]}},
                                  tokens=args.tokens, repeats=args.repeats)
        engine.close()
    b, a = samples["base"].median, samples["adapter"].median
    label = args.adapter or f"random {args.kind} r={args.rank} on {','.join(TARGETS)}"
    print(f"model {base.resolved.name} ({base.resolved.path}), adapter: {label}")
    print(f"threads {torch.get_num_threads()}, {args.tokens} new tokens, {args.repeats} interleaved runs each (+1 warm-up)")
    print(f"{'':10}{'ms/token (median)':>20}{'runs':>40}")
    for name, s in samples.items():
        print(f"{name:10}{s.median:20.2f}    {', '.join(f'{x:.2f}' for x in s.per_token_ms)}")
    print(f"ratio adapter/base: {a / b:.3f}x  (overhead {a - b:+.2f} ms/token; adapter params {expert.param_bytes / 2**20:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
