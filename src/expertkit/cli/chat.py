"""`expert-cli chat`: talk to installed experts (or the router, or the base model) in a terminal.

The conversation, its context budget and the slash commands live in `expertkit.runtime.chat`;
this module only reads lines and writes what the session yields. Answers stream to stdout as they
are generated; side remarks (who answered in auto mode, dropped turns) go to stderr. Ctrl-C while
an answer streams stops that answer (the decoder is told to stop at its next token); Ctrl-C twice
at the prompt leaves (exit 130), as does Ctrl-D or /exit (exit 0). Line editing and history come
from readline; the history is kept in ``$EXPERT_HOME/chat_history``.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from expertkit.cli.options import DeviceOpt, JsonOpt, MaxNewTokensOpt, SystemOpt, ThreadsOpt, use_threads
from expertkit.cli.output import Output, esc

PROMPT = "you> "
HISTORY_FILE = "chat_history"
HISTORY_LENGTH = 1000
CONTROLS = {c: "\ufffd" for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}  # C0 but tab, newline, CR


def register(app: typer.Typer) -> None:
    app.command("chat", help="Talk to installed experts (a+b composed, a|b chosen per message), the router (--auto) or the base model, streaming.")(chat)


def chat(
    experts: Annotated[str | None, typer.Argument(
        help="Installed expert NAME[@VERSION], several joined by + (optional :WEIGHT each), alternatives "
             "joined by | (the router picks one per message); none: the base model.")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Let the router choose the expert(s) for each message.")] = False,
    prompt: Annotated[str | None, typer.Option("--prompt", help="Answer this one message and exit (scriptable).")] = None,
    system: SystemOpt = None,
    max_new_tokens: MaxNewTokensOpt = None,
    no_grammar: Annotated[bool, typer.Option("--no-grammar", help="Decode without the experts' grammar.")] = False,
    think: Annotated[bool | None, typer.Option("--think/--no-think", help="Reason first, or answer directly (default: the manifest's).")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, max=5.0, help="Sampling temperature, 0 = greedy (default: the manifest's).")] = None,
    context_tokens: Annotated[int | None, typer.Option("--context-tokens", min=16, help="Keep the conversation within this many tokens (default: the model's context).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Base model without experts (default: the installed experts', else smollm2-135m-instruct).")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="decoder or hf (default: the engine's).")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.runtime.chat import ChatSession
    from expertkit.runtime.launch import base_model_for, open_engine

    out = Output(json_out)
    use_threads(threads)
    if experts is not None and not experts.strip():
        raise typer.BadParameter("is empty: name installed experts, or leave it out for the base model", param_hint="experts")
    if experts and auto:
        raise typer.BadParameter("name experts or pass --auto, not both", param_hint="--auto")
    if json_out and prompt is None:
        raise typer.BadParameter("--json prints one answer: give the message with --prompt", param_hint="--json")
    from expertkit.models.load_options import pick_device

    base = base_model_for(experts, model)  # a bad expert or device fails here, before any loading
    device = pick_device(device)
    with out.step("loading the model"):
        engine = open_engine(model=base, device=device, backend=backend)
    with engine:
        out.warnings(engine.base.warnings)
        session = ChatSession(engine, experts=experts, auto=auto, system=system, max_new_tokens=max_new_tokens,
                              grammar=False if no_grammar else None, think=think, temperature=temperature,
                              context_tokens=context_tokens)
        if prompt is not None:
            _once(out, session, prompt)
            return
        out.note(f"chat with {session.who} on {engine.base.resolved.name}: /help lists the commands, /exit or Ctrl-D leaves")
        _loop(out, session)


def _once(out: Output, session: Any, text: str) -> None:
    turn = _answer(out, session, text, echo=not out.json)
    gen = turn.generation
    out.result({"answer": turn.answer, "reasoning": turn.reasoning, "experts": turn.experts,
                "route": turn.route.to_dict() if turn.route is not None else None, "tokens": gen.tokens,
                "finish_reason": gen.finish_reason, "latency_ms": round(gen.latency_ms, 1), "base_model": session.engine.base.resolved.name})


def _loop(out: Output, session: Any) -> None:
    from expertkit.cli.errors import report
    from expertkit.errors import ExpertError

    with _history():
        while True:
            line = _read_line(out)
            if line is None:
                return
            if not line.strip():
                continue
            try:
                if line.lstrip().startswith("/"):
                    reply = session.command(line)
                    if reply.exit:
                        return
                    _show_reply(out, reply)
                else:
                    _answer(out, session, line, echo=True)
            except ExpertError as exc:
                report(exc)  # one line (and its hint); the session goes on


def _read_line(out: Output) -> str | None:
    """The next line; None on Ctrl-D. Ctrl-C at the prompt asks once, a second one in a row leaves (130)."""
    interrupted = False
    while True:
        try:
            return input(PROMPT if sys.stdin.isatty() else "")
        except EOFError:
            if sys.stdin.isatty():
                typer.echo()
            return None
        except KeyboardInterrupt:
            if interrupted:
                typer.echo()
                raise
            interrupted = True
            typer.echo()
            out.note("(Ctrl-C again, /exit or Ctrl-D leaves)")


def _answer(out: Output, session: Any, text: str, *, echo: bool) -> Any:
    """Stream one answer to stdout; Ctrl-C stops it (the answer so far is kept)."""
    from expertkit.runtime.chat import ANSWER, DONE, NOTICE, REASONING, ROUTE

    cancel = threading.Event()
    turn, wrote, thinking = None, False, False
    with _ctrl_c_sets(cancel):
        for event in session.send(text, cancel):
            if event.kind == ROUTE:
                out.note(_route_line(event.data))
            elif event.kind == NOTICE:
                out.warn(event.text)
            elif event.kind in (REASONING, ANSWER) and echo:
                if event.kind == ANSWER and thinking:
                    typer.echo()
                thinking = event.kind == REASONING
                _write(out, event.text, dim=thinking)
                wrote = True
            elif event.kind == DONE:
                turn = event.data
    if echo and wrote:
        typer.echo()
    if turn.generation.finish_reason == "cancelled":
        out.note("(stopped)")
    return turn


def _write(out: Output, text: str, *, dim: bool) -> None:
    text = text.translate(CONTROLS)  # model text must not drive the terminal (escape sequences)
    if dim and out.console.is_terminal:
        out.console.print(esc(text), style="dim", end="")
    else:  # plain: the answer is the model's text, never markup
        sys.stdout.write(text)
    sys.stdout.flush()


def _route_line(decision: Any) -> str:
    return f"→ {decision.summary()}"


def _show_reply(out: Output, reply: Any) -> None:
    if reply.command == "/help":
        width = max(len(f"{c['command']} {c['argument']}") for c in reply.data["commands"])
        for c in reply.data["commands"]:
            usage = f"{c['command']} {c['argument']}".rstrip()
            out.print(f"  {esc(usage.ljust(width))}  {esc(c['help'])}")
    elif reply.command == "/info":
        _show_info(out, reply.data)
    else:
        out.note(reply.message)


def _show_info(out: Output, info: dict[str, Any]) -> None:
    chain = info["chain"]
    links = ", ".join(f"{c['name']} {c['version']}" + (f" ×{c['weight']:g}" if c["weight"] != 1 else "") for c in chain or [])
    dec = info["decoding"] or {}
    mem, ctx = info["memory"], info["context"]
    attached = ", ".join(f"{e['name']} {e['version']} ({e['kind']}, {e['param_mb']} MB)" for e in info["attached"]["experts"])
    rows = [("answers", info["who"]), ("base model", info["base_model"]),
            ("chain", links or ("chosen per message" if info["per_message"] else "base model alone")),
            ("last answer by", "+".join(info["last_answered_by"]) or "base model"),
            ("decoding", ", ".join(f"{k} {dec[k]}" for k in ("max_new_tokens", "enable_thinking", "use_grammar", "temperature") if k in dec) or "per chain"),
            ("system", info["system"] or "the expert's own"), ("loaded experts", attached or "none"),
            ("memory", f"model weights {mem['model_param_mb']} MB, adapters {info['attached']['total_param_mb']} MB, peak RSS {mem['peak_rss_mb']} MB"),
            ("context", f"{ctx['used']} of {ctx['window']} tokens, {info['turns']} turn(s)")]
    for label, value in rows:
        out.print(f"  [bold]{label:<15}[/] {esc(value)}")


@contextmanager
def _ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While an answer streams, Ctrl-C sets ``cancel`` (the decoder stops at its next token) instead
    of raising in the middle of the engine."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: cancel.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _history() -> Iterator[None]:
    """readline line editing and a history file under EXPERT_HOME (on a terminal only)."""
    if not sys.stdin.isatty():
        yield
        return
    try:
        import readline
    except ImportError:  # no readline on this platform: plain input()
        yield
        return
    from expertkit.home import expert_home

    path = expert_home() / HISTORY_FILE
    try:
        readline.read_history_file(str(path))
    except OSError:
        pass  # no history yet
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        _save_history(readline, path)


def _save_history(readline: Any, path: Any) -> None:
    from expertkit.atomic import write_text

    lines = [readline.get_history_item(i) for i in range(1, readline.get_current_history_length() + 1)]
    write_text(path, "".join(f"{line}\n" for line in lines[-HISTORY_LENGTH:] if line))
