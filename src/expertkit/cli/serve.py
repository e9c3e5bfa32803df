"""`expert-cli serve`: the OpenAI-compatible HTTP server over installed experts (loopback by default)."""

from __future__ import annotations

from typing import Annotated

import typer

from expertkit.cli.options import DeviceOpt, ThreadsOpt, use_threads
from expertkit.cli.output import Output


def register(app: typer.Typer) -> None:
    app.command("serve", help="Serve installed experts over the OpenAI chat-completions API (model = expert, a+b, auto or base).")(serve)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; loopback unless you mean to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0 = any free port).")] = 8000,
    experts: Annotated[list[str] | None, typer.Option("--experts", help="Expert NAME[@VERSION] to serve (repeat, or comma-separated); default: all installed.")] = None,
    all_installed: Annotated[bool, typer.Option("--all-installed", help="Serve every installed expert (the default without --experts).")] = False,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="EXPERT_API_KEY", help="Require Authorization: Bearer KEY on /v1.")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Most requests decoded together in one batch.")] = 8,
    max_queue: Annotated[int, typer.Option("--max-queue", min=0, help="Most requests waiting; beyond it: 503 with Retry-After.")] = 64,
    batch_wait_ms: Annotated[float, typer.Option("--batch-wait-ms", min=0, help="After a batch of several requests, wait this long for the next to fill.")] = 50,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Largest max_tokens a request may ask for.")] = 4096,
    enable_lora_admin: Annotated[bool, typer.Option("--enable-lora-admin", help="Allow POST /v1/load_lora_adapter and /v1/unload_lora_adapter.")] = False,
    no_router: Annotated[bool, typer.Option("--no-router", help="Don't offer model 'auto'.")] = False,
    backend: Annotated[str, typer.Option("--backend", help="decoder (fast, default) or hf (transformers + PEFT).")] = "decoder",
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
) -> None:
    from expertkit.serve.app import ServeConfig
    from expertkit.serve.server import run

    out = Output(False)
    use_threads(threads)
    if experts and all_installed:
        raise typer.BadParameter("give --experts or --all-installed, not both")
    names = [n.strip() for value in experts or () for n in value.split(",") if n.strip()]
    config = ServeConfig(experts=names or None, api_key=api_key, max_batch=max_batch, max_queue=max_queue, batch_wait_ms=batch_wait_ms,
                         max_tokens=max_tokens, lora_admin=enable_lora_admin, router=not no_router)
    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        out.warn(f"binding {host} without --api-key: anyone who can reach it can use the model")
    run(config, host=host, port=port, device=device, backend=backend,
        ready=lambda bound: typer.echo(f"serving on http://{host}:{bound}/v1 (OpenAI API); Ctrl-C or SIGTERM stops", err=True))
