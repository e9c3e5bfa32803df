"""Load on `expert-cli serve`: N concurrent loopback clients (the official `openai` client, streaming)
over mixed experts, against the same requests sent one at a time to the same server, in one run.

Experts: random LoRA adapters on the base model (see bench/runtime.py: for speed only shapes
matter), packaged and installed into a temporary EXPERT_HOME whose models/ is the caller's (the
prepared default model). Requests cycle over the experts and the base model, greedy, a fixed
``--max-tokens`` budget. Serial first, then concurrent; every request is bounded by a timeout.

    .venv/bin/python bench/serve_load.py --json                      # 16 clients x 8 requests, smollm2
    .venv/bin/python bench/serve_load.py --model-dir /path/to/tiny --clients 4 --requests 2 --max-tokens 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime import QUESTIONS, make_adapters  # noqa: E402  (bench/runtime.py: the random experts)

REQUEST_TIMEOUT_S = 600
START_TIMEOUT_S = 600


def install_experts(home: Path, model: str, model_dir: Path, count: int, rank: int, work: Path) -> list[str]:
    from expertkit.manifest.model import model_slug
    from expertkit.packaging.build import build_package
    from expertkit.registry.install import Options, install

    names = []
    for i, adapter in enumerate(make_adapters(model_dir, work / "adapters", count, rank)):
        name = f"expert-load{i}"
        root = work / name
        weights = root / "weights" / model_slug(model) / "final"
        shutil.copytree(adapter, weights)
        manifest = {"name": name, "version": "0.1.0", "schema_version": "2.0", "description": f"load-test expert {i}",
                    "base_models": [{"name": model, "prompt_template": "chatml", "adapters": []}],
                    "training": {"config": {"adapter_type": "lora", "rank": rank, "alpha": 2 * rank,
                                            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]}}}
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
        (root / "README.md").write_text(f"# {name}\n")
        (root / "LICENSE").write_text("Apache-2.0\n")
        package = build_package(root / "manifest.json", weights=weights, output=work / f"{name}.expert").path
        os.environ["EXPERT_HOME"] = str(home)
        install(str(package), Options(allow_unsigned=True))
        names.append(name)
    return names


def start_server(home: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "EXPERT_HOME": str(home), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cmd = [sys.executable, "-m", "expertkit.cli.main", "serve", "--port", str(port), "--max-batch", str(args.max_batch),
           "--max-queue", str(args.clients * 2), "--no-router"] + (["--threads", str(args.threads)] if args.threads else [])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=(home / "server.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"server did not start:\n{(home / 'server.log').read_text()[-2000:]}")


def one(client: Any, model: str, question: str, max_tokens: int) -> dict[str, Any]:
    started = time.perf_counter()
    first, tokens = None, 0
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
                                            temperature=0, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if first is None and chunk.choices and (chunk.choices[0].delta.content or ""):
            first = time.perf_counter()
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    end = time.perf_counter()
    return {"ms": (end - started) * 1000, "ttft_ms": ((first or end) - started) * 1000, "tokens": tokens}


def run_phase(url: str, plan: list[list[tuple[str, str]]], max_tokens: int, concurrent: bool) -> dict[str, Any]:
    import openai

    results: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client_loop(requests: list[tuple[str, str]]) -> None:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", timeout=REQUEST_TIMEOUT_S, max_retries=0)
        for model, question in requests:
            try:
                out = one(client, model, question, max_tokens)
            except Exception as exc:  # counted, never fatal: the figure is how many failed
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                results.append(out)

    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=client_loop, args=(reqs,)) for reqs in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join(REQUEST_TIMEOUT_S * len(plan[0]))
    else:
        client_loop([req for reqs in plan for req in reqs])
    wall = time.perf_counter() - started
    return {"results": results, "errors": errors, "wall_s": wall}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")


def summarise(args: argparse.Namespace, serial: dict[str, Any], load: dict[str, Any]) -> dict[str, Any]:
    res = load["results"]
    tokens = sum(r["tokens"] for r in res)
    serial_tokens = sum(r["tokens"] for r in serial["results"])
    tps = tokens / load["wall_s"]
    serial_tps = serial_tokens / serial["wall_s"]
    return {"clients": args.clients, "requests": args.clients * args.requests, "errors": len(load["errors"]) + len(serial["errors"]),
            "p50_ms": _pct([r["ms"] for r in res], 0.5), "p99_ms": _pct([r["ms"] for r in res], 0.99),
            "ttft_p50_ms": _pct([r["ttft_ms"] for r in res], 0.5), "completion_tokens_per_s": round(tps, 2),
            "serial_completion_tokens_per_s": round(serial_tps, 2),
            "speedup_vs_serial": round(serial["wall_s"] / load["wall_s"], 2),
            "wall_s": round(load["wall_s"], 1), "serial_wall_s": round(serial["wall_s"], 1),
            "serial_p50_ms": _pct([r["ms"] for r in serial["results"]], 0.5),
            "max_tokens": args.max_tokens, "max_batch": args.max_batch, "error_samples": (load["errors"] + serial["errors"])[:3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model alias/name (see `expert-cli models list`)")
    parser.add_argument("--model-dir", type=Path, help="a local HF model directory instead of --model")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--experts", type=int, default=3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch threads in the server")
    parser.add_argument("--metrics-out", type=Path, help="write the server's /metrics after the load to this file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from expertkit.home import expert_home
    from expertkit.models.resolve import resolve_model

    model = str(args.model_dir) if args.model_dir else args.model
    model_dir = resolve_model(model).path
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        if (expert_home() / "models").is_dir():
            (home / "models").symlink_to(expert_home() / "models")  # the prepared base model, shared read-only
        names = install_experts(home, model, model_dir, args.experts, args.rank, Path(tmp))
        models = [*names, "base"]
        plan = [[(models[(c + i) % len(models)], QUESTIONS[(c * args.requests + i) % len(QUESTIONS)]) for i in range(args.requests)]
                for c in range(args.clients)]
        proc, url = start_server(home, args)
        try:
            run_phase(url, [plan[0][:1]], args.max_tokens, concurrent=False)  # warm-up: first attach, grammar info
            serial = run_phase(url, plan, args.max_tokens, concurrent=False)
            load = run_phase(url, plan, args.max_tokens, concurrent=True)
            if args.metrics_out:
                import httpx

                args.metrics_out.write_text(httpx.get(f"{url}/metrics", timeout=30).text)
        finally:
            proc.terminate()
            proc.wait(120)
    result = summarise(args, serial, load)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
