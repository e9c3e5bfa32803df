"""`expert-cli ask`: answer one question with an installed expert (or an expert directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expertkit.cli.options import DeviceOpt, JsonOpt, ThreadsOpt, use_threads
from expertkit.cli.output import Output


def register(app: typer.Typer) -> None:
    app.command("ask", help="Answer one question with an installed expert, its template, decoding and grammar.")(ask)


def ask(
    expert: Annotated[str, typer.Argument(help="Installed expert NAME[@VERSION], or an installed/extracted expert directory.")],
    question: Annotated[str, typer.Argument(help="The user message.")],
    system: Annotated[str | None, typer.Option("--system", help="System message (e.g. the schema); default: the expert's.")] = None,
    no_grammar: Annotated[bool, typer.Option("--no-grammar", help="Decode without the expert's grammar.")] = False,
    base_only: Annotated[bool, typer.Option("--base", help="Answer with the base model (adapter disabled) for comparison.")] = False,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Override decoding.max_new_tokens.")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.registry.refs import parse_ref, resolve_ref
    from expertkit.registry.store import read_registry
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.prompts import Request

    out = Output(json_out)
    use_threads(threads)
    path = Path(expert)
    if not (path / "manifest.json").is_file():
        _, record = resolve_ref(read_registry(), parse_ref(expert))
        path = Path(record["path"])
    overrides: dict = {}
    if no_grammar:
        overrides["use_grammar"] = False
    if max_new_tokens:
        overrides["max_new_tokens"] = max_new_tokens
    with out.step("loading the model"):
        engine = InferenceEngine.from_manifest(path / "manifest.json", path, device=device)
    with engine, out.step("generating"):
        [gen] = engine.generate([Request(input=question, system=system)], use_adapter=not base_only, **overrides)

    def human() -> None:  # plain echo: the answer is the user's text, never markup
        if gen.reasoning:
            typer.echo(f"[thinking] {gen.reasoning}")
        typer.echo(gen.answer)

    out.result({"expert": str(path), "answer": gen.answer, "reasoning": gen.reasoning, "tokens": gen.tokens,
                "latency_ms": round(gen.latency_ms, 1), "grammar_complete": gen.grammar_complete}, human)
