"""Build the engine for a server and run it under uvicorn.

The first served expert's manifest names the base model; every expert attaches to that base
(the pool refuses one made for another base). The engine's own settings are the neutral defaults
(`runtime.launch`): ``model="base"`` answers as the model itself, not under the first expert's
grammar, thinking switch or system prompt; each expert or composition brings its own per request. uvicorn owns the signals: on SIGTERM/SIGINT
it stops accepting connections, lets in-flight requests finish (streams included), then the
app's lifespan ends the engine worker, and `run` returns (exit 0).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from expertkit.errors import UsageError
from expertkit.serve.app import ServeConfig, create_app


def served_specs(experts: list[str] | None) -> list[str]:
    """The NAME[@VERSION]s to attach at start: those given, or every installed expert."""
    from expertkit.registry.store import read_registry

    specs = list(experts) if experts else sorted(read_registry()["experts"])
    if not specs:
        raise UsageError("no expert is installed: there is nothing to serve", param="experts",
                         hint="install an expert first (expert-cli install FILE.expert)")
    return specs


def build_engine(specs: list[str], *, device: str = "auto", backend: str = "decoder") -> tuple[Any, str]:
    """(engine with every spec attached, the base model's name)."""
    from expertkit.runtime.launch import open_engine

    engine = open_engine(specs[0], device=device, backend=backend)
    try:
        for spec in specs:
            engine.attach(spec)
        base_name = engine.base.resolved.name
    except BaseException:
        engine.close()
        raise
    return engine, base_name


def run(config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000, device: str = "auto",
        backend: str = "decoder", log_level: str = "info", ready: Any = None) -> None:
    """Serve until SIGTERM/SIGINT. ``ready(port)`` is called once the socket listens."""
    import uvicorn

    specs = served_specs(config.experts)
    engine, base_name = build_engine(specs, device=device, backend=backend)
    with engine:
        app = create_app(engine, config, base_name=base_name)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                               timeout_graceful_shutdown=None, lifespan="on"))
        if ready is not None:
            _notify_when_started(server, ready)
        server.capture_signals = lambda: _signals(server)
        server.run()


def _notify_when_started(server: Any, ready: Any) -> None:
    startup = server.startup

    async def started(sockets: Any = None) -> None:
        await startup(sockets=sockets)
        if server.started:
            ready(server.servers[0].sockets[0].getsockname()[1])

    server.startup = started


@contextlib.contextmanager
def _signals(server: Any) -> Iterator[None]:
    """uvicorn's graceful shutdown on SIGTERM/SIGINT, without its re-raising the signal afterwards:
    a drained server exits 0."""
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
