"""POST /v1/chat/completions: a request becomes a scheduler job; its events become one answer or SSE chunks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from expertkit.errors import ExpertError, GrammarError
from expertkit.runtime.prompts import Request as EngineRequest
from expertkit.serve.errors import APIError, body, to_api_error
from expertkit.serve.protocol import ChatCompletionRequest, chunk, completion, completion_id, usage
from expertkit.serve.scheduler import Job, QueueFull
from expertkit.serve.structured import grammar_overrides

POLL_S = 0.25  # how often a waiting handler checks that its client is still there


def build_job(state: Any, req: ChatCompletionRequest) -> tuple[Job, str]:
    """The scheduler job for ``req`` and its model kind (base/expert/composition/auto); APIError when bad."""
    bad = req.unsupported()
    if bad is not None:
        raise APIError(400, bad[1], param=bad[0], code="unsupported_parameter")
    try:
        messages = req.messages_dicts()
    except ValueError as exc:
        raise APIError(400, f"messages: {exc}", param="messages") from None
    experts, kind = state.experts_for(req.model)
    overrides: dict[str, Any] = {}
    limit = req.max_completion_tokens or req.max_tokens
    if limit is not None:
        if limit > state.config.max_tokens:
            raise APIError(400, f"max_tokens {limit} is above this server's limit ({state.config.max_tokens})",
                           param="max_completion_tokens" if req.max_completion_tokens else "max_tokens")
        overrides["max_new_tokens"] = limit
    for name in ("temperature", "top_p", "top_k", "min_p"):
        if getattr(req, name) is not None:
            overrides[name] = getattr(req, name)
    if req.stop is not None:
        stops = [req.stop] if isinstance(req.stop, str) else req.stop
        if len(stops) > 4 or any(not s for s in stops):
            raise APIError(400, "stop: up to 4 non-empty strings", param="stop")
        overrides["stop_sequences"] = tuple(stops)
    if req.chat_template_kwargs and "enable_thinking" in req.chat_template_kwargs:
        overrides["enable_thinking"] = req.chat_template_kwargs["enable_thinking"]
    overrides.update(grammar_overrides(req, state.grammars))
    request = EngineRequest(messages=tuple(messages), experts=experts)  # type: ignore[arg-type]
    return Job(request, overrides, deliver=lambda event: None, seed=req.seed), kind


def _job_error(exc: BaseException, req: ChatCompletionRequest) -> APIError:
    err = to_api_error(exc)
    if isinstance(exc, GrammarError) and err.param is None:
        err.param = "grammar" if req.grammar is not None else "response_format" if req.response_format else None
    if isinstance(exc, ExpertError) and err.param is None and not isinstance(exc, GrammarError):
        err.param = "model"
    return err


async def _next(queue: asyncio.Queue, http: Request, state: Any, job: Job) -> tuple[Any, ...] | None:
    """The job's next event, or None when the client went away (the job is cancelled then)."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), POLL_S)
        except TimeoutError:
            if await http.is_disconnected():
                state.scheduler.cancel(job)
                state.metrics.cancelled.inc()
                return None


def _extra(meta: dict[str, Any], gen: Any) -> dict[str, Any]:
    route = meta.get("route")
    scores = {s["expert"]: s["score"] for s in route["scores"]} if route else {}
    out = {"experts": meta["experts"], "chain": meta["chain"], "scores": scores, "grammar": meta["grammar"],
           "batch_size": gen.batch_size if gen is not None else None}
    if route:
        out["route"] = {"experts": route["experts"], "confidence": route["confidence"], "threshold": route["threshold"]}
    return out


def _record(state: Any, kind: str, stream: bool, meta: dict[str, Any], gen: Any, started: float, first: float | None) -> None:
    m = state.metrics
    m.requests.labels(model_kind=kind, stream=str(bool(stream)).lower()).inc()
    m.prompt_tokens.inc(meta["prompt_tokens"])
    m.completion_tokens.inc(gen.tokens)
    m.latency.observe(time.perf_counter() - started)
    m.ttft.observe((first if first is not None else time.perf_counter()) - started)
    for name in meta["experts"] or ["base"]:
        m.expert_requests.labels(expert=name).inc()


async def chat_completions(req: ChatCompletionRequest, http: Request) -> Response:
    state = http.app.state.serve
    job, kind = build_job(state, req)
    queue: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()
    job.deliver = lambda event: loop.call_soon_threadsafe(queue.put_nowait, event)
    started = time.perf_counter()
    try:
        state.scheduler.submit(job)
    except QueueFull as exc:
        raise APIError(503, f"{exc}; retry later", code="queue_full",
                       headers={"Retry-After": str(state.config.retry_after)}) from None
    event = await _next(queue, http, state, job)
    if event is None:
        return Response(status_code=499)
    if event[0] == "error":
        raise _job_error(event[1], req)
    meta = event[1]
    if req.stream:
        include = bool(req.stream_options and req.stream_options.include_usage)
        return _JobStream(state, job, _sse(state, job, queue, req, kind, meta, started, include))
    first, thought = None, []
    while True:
        event = await _next(queue, http, state, job)
        if event is None:
            return Response(status_code=499)
        if event[0] == "delta":
            first = first or time.perf_counter()
            if event[1] == "reasoning":
                thought.append(event[2])  # kept when the think block never closed (the budget ran out)
        elif event[0] == "error":
            raise _job_error(event[1], req)
        elif event[0] == "done":
            gen, job.finished = event[1], True
            _record(state, kind, False, meta, gen, started, first)
            reasoning = gen.reasoning if gen.reasoning is not None else "".join(thought) or None
            answer = completion(completion_id(), req.model, gen.answer, reasoning, gen.finish_reason,
                                usage(meta["prompt_tokens"], gen.tokens), _extra(meta, gen))
            return JSONResponse(answer)


class _JobStream(StreamingResponse):
    """SSE whose job is cancelled the moment sending fails (the client left): Starlette stops iterating
    the body then but leaves closing the generator to the garbage collector."""

    def __init__(self, state: Any, job: Job, events: AsyncIterator[str]) -> None:
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._state, self._job = state, job

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._job.finished:
                self._state.scheduler.cancel(self._job)
                self._state.metrics.cancelled.inc()
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


def _data(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _sse(state: Any, job: Job, queue: asyncio.Queue, req: ChatCompletionRequest, kind: str, meta: dict[str, Any],
               started: float, include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's chunk sequence: role, content/reasoning_content deltas, finish_reason, [usage], [DONE].
    A client that goes away is noticed by `_JobStream`, which cancels the job."""
    cid, created, done, first = completion_id(), int(time.time()), False, None
    use = (lambda n: usage(meta["prompt_tokens"], n)) if include_usage else (lambda n: None)
    try:
        yield _data(chunk(cid, req.model, created, {"role": "assistant", "content": ""}))
        while not done:
            event = await queue.get()
            if event[0] == "delta":
                first = first or time.perf_counter()
                field = "reasoning_content" if event[1] == "reasoning" else "content"
                yield _data(chunk(cid, req.model, created, {field: event[2]}))
            elif event[0] == "error":
                err = _job_error(event[1], req)
                state.metrics.error(err.status)
                yield _data(body(err.status, err.message, err.param, err.code))
                done = True
            else:
                gen, done = event[1], True
                _record(state, kind, True, meta, gen, started, first)
                yield _data(chunk(cid, req.model, created, {}, gen.finish_reason, extra=_extra(meta, gen)))
                if include_usage:
                    yield _data(chunk(cid, req.model, created, None, use=use(gen.tokens)))
        yield "data: [DONE]\n\n"
    finally:
        job.finished = done
