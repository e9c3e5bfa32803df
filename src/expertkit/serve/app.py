"""The OpenAI-compatible app (FastAPI): models, chat completions, health, metrics, adapter admin.

`create_app(engine, config)` wraps an `InferenceEngine` that already holds the base model; the
scheduler's worker thread is the only one that touches it. Auth (``Authorization: Bearer``) and
the body-size limit are one ASGI middleware in front of everything under /v1.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from expertkit.errors import ExpertError
from expertkit.serve.chat import chat_completions
from expertkit.serve.errors import APIError, body, to_api_error
from expertkit.serve.metrics import Metrics
from expertkit.serve.scheduler import QueueFull, Scheduler
from expertkit.serve.structured import GrammarFiles

BASE, AUTO = "base", "auto"


@dataclass
class ServeConfig:
    experts: list[str] | None = None  # the experts served (NAME[@VERSION]); None = every installed one
    api_key: str | None = None
    max_batch: int = 8
    max_queue: int = 64
    max_body_bytes: int = 1 << 20
    max_tokens: int = 4096
    lora_admin: bool = False  # POST /v1/load_lora_adapter and /v1/unload_lora_adapter
    retry_after: int = 1  # seconds, in a 503's Retry-After
    router: bool = True  # model "auto"
    batch_wait_ms: float = 50  # after a multi-row batch, how long the next one waits to fill


class ServeState:
    def __init__(self, engine: Any, config: ServeConfig, base_name: str) -> None:
        self.engine, self.config, self.base_name = engine, config, base_name
        self.created = int(time.time())
        self.grammars = GrammarFiles()
        self.loaded: set[str] = set()  # attached through /v1/load_lora_adapter
        self.draining = False
        self.scheduler = Scheduler(engine, max_batch=config.max_batch, max_queue=config.max_queue,
                                   router=self._router if config.router else None, batch_wait_s=config.batch_wait_ms / 1000)
        self.metrics = Metrics(lambda: self.scheduler.depth, lambda: self.scheduler.running,
                               lambda: len(engine.pool.experts()))

    def served(self) -> dict[str, str | None]:
        """Expert name -> version (None when not attached yet) of everything a request may name."""
        attached = {e.name: e.version for e in self.engine.pool.experts()}
        if self.config.experts is None:
            from expertkit.registry.store import read_registry

            names = dict.fromkeys(read_registry()["experts"])
        else:
            names = dict.fromkeys(spec.partition("@")[0] for spec in self.config.experts)
        names.update(dict.fromkeys(self.loaded))
        return {n: attached.get(n) for n in names}

    def experts_for(self, model: str) -> tuple[Any, str]:
        """What a request's ``model`` runs with: [] (base), None (route), or the spec (alternatives
        ``a|b`` are routed per request by the scheduler); 404 when unknown."""
        from expertkit.runtime.compose import is_gated, parse_spec, split_alternatives

        if model == BASE:
            return [], "base"
        gated = is_gated(model)
        if (model == AUTO or gated) and not self.config.router:
            raise APIError(404, f"model {model!r}: routing is not enabled on this server", param="model", code="model_not_found")
        if model == AUTO:
            return None, "auto"
        try:
            wanted = [w for part in (split_alternatives(model) if gated else [model]) for w in parse_spec(part)]
        except ExpertError as exc:
            raise APIError(400, f"model: {exc.message}", param="model") from None
        served = self.served()
        missing = [w.name for w in wanted if w.name not in served]
        if missing:
            raise APIError(404, f"The model {missing[0]!r} does not exist (GET /v1/models lists what this server serves)",
                           param="model", code="model_not_found")
        return model, "gated" if gated else "composition" if len(wanted) > 1 else "expert"

    def _router(self) -> Any:
        from expertkit.runtime.routing import Router

        router = Router.from_registry()
        served = self.served()
        router.profiles = [p for p in router.profiles if p.name in served]
        return router


class LoadLoraRequest(BaseModel):  # vLLM's LoadLoRAAdapterRequest
    model_config = ConfigDict(extra="forbid")
    lora_name: str
    lora_path: str
    load_inplace: bool = False


class UnloadLoraRequest(BaseModel):  # vLLM's UnloadLoRAAdapterRequest
    model_config = ConfigDict(extra="forbid")
    lora_name: str
    lora_int_id: int | None = None


class Gate:
    """ASGI middleware: API key and body size for /v1; the body is read (bounded) before the app sees it."""

    def __init__(self, app: Any, state: ServeState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}
        key = self.state.config.api_key
        if key is not None and headers.get("authorization") != f"Bearer {key}":
            given = "a wrong API key" if "authorization" in headers else "no API key"
            return await self._refuse(send, 401, f"Incorrect or missing API key: {given} (send Authorization: Bearer KEY)")
        limit = self.state.config.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self._refuse(send, 413, f"request body of {declared} bytes is larger than the limit ({limit})")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await self._refuse(send, 413, f"request body is larger than the limit ({limit} bytes)")
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _refuse(self, send: Any, status: int, message: str) -> None:
        self.state.metrics.error(status)
        await JSONResponse(body(status, message), status_code=status)({"type": "http"}, None, send)


def create_app(engine: Any, config: ServeConfig, *, base_name: str) -> FastAPI:
    state = ServeState(engine, config, base_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        state.scheduler.start()
        try:
            yield
        finally:  # uvicorn got SIGTERM/SIGINT and in-flight requests are done: end the worker
            state.draining = True
            await asyncio.to_thread(state.scheduler.stop)

    app = FastAPI(title="expertkit", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serve = state
    from expertkit.serve.errors import install_handlers

    install_handlers(app, state.metrics.error)
    app.post("/v1/chat/completions")(chat_completions)
    app.get("/v1/models")(lambda: _models(state))
    app.get("/health")(lambda: _health(state))
    app.get("/metrics")(lambda: Response(state.metrics.render(), media_type="text/plain; version=0.0.4"))
    if config.lora_admin:
        app.post("/v1/load_lora_adapter")(_load_lora)
        app.post("/v1/unload_lora_adapter")(_unload_lora)
    app.add_middleware(Gate, state=state)
    return app


def _models(state: ServeState) -> dict[str, Any]:
    def card(name: str, parent: str | None, root: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": state.created, "owned_by": "expertkit", "root": root,
                "parent": parent, "permission": []}

    data = [card(BASE, None, state.base_name)]
    data += [card(n, state.base_name, f"{n}@{v}" if v else n) for n, v in sorted(state.served().items())]
    if state.config.router:
        data.append(card(AUTO, state.base_name, "router"))
    return {"object": "list", "data": data}


def _health(state: ServeState) -> JSONResponse:
    if state.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    return JSONResponse({"status": "ok", "queue_depth": state.scheduler.depth, "attached": len(state.engine.pool.experts())})


async def _admin(http: Request, fn: Any) -> Any:
    state: ServeState = http.app.state.serve
    try:
        future = state.scheduler.call(fn)
    except QueueFull as exc:
        raise APIError(503, str(exc), headers={"Retry-After": str(state.config.retry_after)}) from None
    try:
        return await asyncio.wrap_future(future)
    except ExpertError as exc:
        raise to_api_error(exc) from None


async def _load_lora(req: LoadLoraRequest, http: Request) -> PlainTextResponse:
    state: ServeState = http.app.state.serve
    if req.lora_name in (BASE, AUTO) or any(c in req.lora_name for c in "+:|"):
        raise APIError(400, f"lora_name {req.lora_name!r} is reserved or not a plain name", param="lora_name")
    if req.lora_name in {e.name for e in state.engine.pool.experts()}:
        raise APIError(400, f"The lora adapter '{req.lora_name}' has already been loaded.", param="lora_name")
    await _admin(http, lambda: _attach_as(state.engine, req.lora_path, req.lora_name))
    state.loaded.add(req.lora_name)
    state.scheduler.reset_router()
    return PlainTextResponse(f"Success: LoRA adapter '{req.lora_name}' added successfully.")


async def _unload_lora(req: UnloadLoraRequest, http: Request) -> PlainTextResponse:
    state: ServeState = http.app.state.serve
    if req.lora_name not in {e.name for e in state.engine.pool.experts()}:
        raise APIError(404, f"The lora adapter '{req.lora_name}' cannot be found.", param="lora_name", code="not_found")
    await _admin(http, lambda: state.engine.detach(req.lora_name))
    state.loaded.discard(req.lora_name)
    state.scheduler.reset_router()
    return PlainTextResponse(f"Success: LoRA adapter '{req.lora_name}' removed successfully.")


def _attach_as(engine: Any, path: str, name: str) -> None:
    """Attach ``path`` under ``name`` (vLLM's lora_name): the resolver knows it by that name too."""
    import dataclasses

    expert = engine.attach(path, name=name)
    expert.info = dataclasses.replace(expert.info, name=name)
