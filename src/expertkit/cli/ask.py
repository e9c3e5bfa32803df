"""`expert-cli ask`: answer one question with installed experts (composed: `a+b`; alternatives, one
chosen by the router: `a|b`) or an expert directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from expertkit.cli.options import BackendOpt, DeviceOpt, JsonOpt, MaxNewTokensOpt, SystemOpt, ThreadsOpt, use_threads
from expertkit.cli.output import Output


def register(app: typer.Typer) -> None:
    app.command("ask", help="Answer one question with installed experts (NAME[@VERSION], composed as a+b or a:0.7+b:0.3, "
                            "or alternatives a|b: the router picks one).")(ask)


def ask(
    expert: Annotated[str, typer.Argument(
        help="Installed expert NAME[@VERSION], several joined by + (optional :WEIGHT each), alternatives joined by | "
             "(the router picks the one that applies), or an expert directory.")],
    question: Annotated[str, typer.Argument(help="The user message.")],
    system: SystemOpt = None,
    no_grammar: Annotated[bool, typer.Option("--no-grammar", help="Decode without the expert's grammar.")] = False,
    base_only: Annotated[bool, typer.Option("--base", help="Answer with the base model (no expert) for comparison.")] = False,
    max_new_tokens: MaxNewTokensOpt = None,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "decoder",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.runtime.compose import first_expert, is_gated
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.launch import open_engine
    from expertkit.runtime.pool import installed_dir
    from expertkit.runtime.prompts import Request

    out = Output(json_out)
    use_threads(threads)
    path = Path(expert)
    composed = not (path / "manifest.json").is_file()
    if composed:  # the first named expert brings the base model; the resolver attaches the rest
        first = first_expert(expert)
        path = installed_dir(f"{first.name}@{first.requirement}" if first.requirement else first.name)
    overrides: dict = {}
    if no_grammar:
        overrides["use_grammar"] = False
    if max_new_tokens:
        overrides["max_new_tokens"] = max_new_tokens
    experts = [] if base_only else expert if composed else None
    route = None
    if composed and not base_only and is_gated(expert):  # the router picks an alternative; it runs on the bare base
        with out.step("routing"):
            route = _choose(expert, question, system)
        experts = route.run
    with out.step("loading the model"):
        engine = (open_engine(expert, device=device, backend=backend) if route is not None else
                  InferenceEngine.from_manifest(path / "manifest.json", path, device=device, backend=backend))
    with engine, out.step("generating"):
        resolved = engine.resolve(experts, **overrides)
        [gen] = engine.generate([Request(input=question, system=system)], experts=experts, **overrides)
        memory = engine.pool.memory()

    def human() -> None:  # plain echo: the answer is the user's text, never markup
        if route is not None:
            out.note(f"→ {route.summary()}")
        if gen.reasoning:
            typer.echo(f"[thinking] {gen.reasoning}")
        typer.echo(gen.answer)

    out.result({"expert": str(path), "answer": gen.answer, "reasoning": gen.reasoning, "tokens": gen.tokens,
                "latency_ms": round(gen.latency_ms, 1), "grammar_complete": gen.grammar_complete, "experts": gen.experts,
                "backend": gen.backend,
                **resolved.to_dict(), "memory": memory, "route": route.to_dict() if route is not None else None}, human)


def _choose(spec: str, question: str, system: str | None) -> Any:
    """The router's pick among the alternatives of ``spec`` (runtime/gating.py), over installed experts."""
    from expertkit.models.gguf import quiet_progress_bars
    from expertkit.runtime.gating import choose
    from expertkit.runtime.pool import installed_lookup
    from expertkit.runtime.routing import Router

    with quiet_progress_bars():
        return choose(spec, Router.from_registry(), question, system, installed_lookup)
