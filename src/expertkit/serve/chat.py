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
from expertkit.serve.protocol import ChatCompletionRequest, choice, chunk, completion, completion_id, usage
from expertkit.serve.scheduler import Job, QueueFull
from expertkit.serve.structured import grammar_overrides

POLL_S = 0.25  # how often a waiting handler checks that its client is still there


def build_job(state: Any, req: ChatCompletionRequest) -> tuple[Job, str]:
    """The scheduler job for ``req`` and its model kind (base/expert/composition/gated/auto); APIError when bad."""
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


class _Choices:
    """The ``n`` jobs of one request (one per choice), their events on one queue as ``(index, event)``."""

    def __init__(self, state: Any, job: Job, n: int) -> None:
        loop = asyncio.get_running_loop()
        self.state, self.queue = state, asyncio.Queue()
        self.jobs = [job] + [Job(job.request, dict(job.overrides), deliver=job.deliver, seed=job.seed) for _ in range(n - 1)]
        for i, each in enumerate(self.jobs):
            each.deliver = lambda event, i=i: loop.call_soon_threadsafe(self.queue.put_nowait, (i, event))

    def cancel(self, *, client_left: bool = True) -> None:
        """Stop every unfinished choice: the client left (counted as a cancellation), or one choice failed."""
        for job in self.jobs:
            if not job.finished:
                self.state.scheduler.cancel(job)
                job.finished = not client_left
        if client_left:
            self.state.metrics.cancelled.inc()

    @property
    def finished(self) -> bool:
        return all(job.finished for job in self.jobs)

    async def next(self, http: Request) -> tuple[int, tuple[Any, ...]] | None:
        """The next ``(index, event)``, or None when the client went away (every choice is cancelled then)."""
        while True:
            try:
                return await asyncio.wait_for(self.queue.get(), POLL_S)
            except TimeoutError:
                if await http.is_disconnected():
                    self.cancel()
                    return None


def _extra(meta: dict[str, Any], gen: Any) -> dict[str, Any]:
    route = meta.get("route")
    scores = {s["expert"]: s["score"] for s in route["scores"]} if route else {}
    # decided_by: which expert gave the decoding settings ({"settings": None}: the base model's own)
    out = {"experts": meta["experts"], "chain": meta["chain"], "scores": scores, "grammar": meta["grammar"],
           "decided_by": meta["decided_by"], "batch_size": gen.batch_size if gen is not None else None}
    if route:
        out["route"] = {"experts": route["experts"], "confidence": route["confidence"], "threshold": route["threshold"]}
        if "gate" in route:  # alternatives: which one answered (None: the base model, and why)
            out["route"]["gate"] = route["gate"]
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
    n = req.n or 1
    if n > state.scheduler.max_queue:
        raise APIError(400, f"n {n} is above this server's queue of {state.scheduler.max_queue}", param="n")
    choices = _Choices(state, job, n)
    started = time.perf_counter()
    try:
        state.scheduler.submit(*choices.jobs)  # all n choices or none: QueueFull means retry the request
    except QueueFull as exc:
        raise APIError(503, f"{exc}; retry later", code="queue_full",
                       headers={"Retry-After": str(state.config.retry_after)}) from None
    metas: dict[int, Any] = {}
    early: list[tuple[int, tuple[Any, ...]]] = []  # deltas of a choice already running while another waits for its batch
    while len(metas) < n:
        event = await choices.next(http)
        if event is None:
            return Response(status_code=499)
        if event[1][0] == "error":
            choices.cancel(client_left=False)
            raise _job_error(event[1][1], req)
        if event[1][0] == "meta":
            metas[event[0]] = event[1][1]
        else:
            early.append(event)
    if req.stream:
        include = bool(req.stream_options and req.stream_options.include_usage)
        return _JobStream(choices, _sse(state, choices, early, req, kind, metas, started, include))
    return await _answer(state, choices, early, req, kind, metas, started, http)


async def _answer(state: Any, choices: _Choices, early: list, req: ChatCompletionRequest, kind: str,
                  metas: dict[int, Any], started: float, http: Request) -> Response:
    """The non-streamed answer: every choice indexed, usage summed over them (the prompt counted once)."""
    first, thought, gens = None, {i: [] for i in metas}, {}
    while len(gens) < len(metas):
        event = early.pop(0) if early else await choices.next(http)
        if event is None:
            return Response(status_code=499)
        i, (what, *rest) = event
        if what == "delta":
            first = first or time.perf_counter()
            if rest[0] == "reasoning":
                thought[i].append(rest[1])  # kept when the think block never closed (the budget ran out)
        elif what == "error":
            choices.cancel(client_left=False)
            raise _job_error(rest[0], req)
        elif what == "done":
            gens[i], choices.jobs[i].finished = rest[0], True
            _record(state, kind, False, metas[i], rest[0], started, first)
    out = [choice(i, g.answer, g.reasoning if g.reasoning is not None else "".join(thought[i]) or None, g.finish_reason)
           for i, g in sorted(gens.items())]
    spent = usage(metas[0]["prompt_tokens"], sum(g.tokens for g in gens.values()))
    return JSONResponse(completion(completion_id(), req.model, out, spent, _extra(metas[0], gens[0])))


class _JobStream(StreamingResponse):
    """SSE whose jobs are cancelled the moment sending fails (the client left): Starlette stops iterating
    the body then but leaves closing the generator to the garbage collector."""

    def __init__(self, choices: _Choices, events: AsyncIterator[str]) -> None:
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._choices = choices

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._choices.finished:
                self._choices.cancel()
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


def _data(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _sse(state: Any, choices: _Choices, early: list, req: ChatCompletionRequest, kind: str, metas: dict[int, Any],
               started: float, include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's chunk sequence: per choice a role chunk, content/reasoning_content deltas and its finish_reason
    (choices interleave, each chunk names its index); then [usage], [DONE]. A client that goes away is noticed
    by `_JobStream`, which cancels the jobs."""
    cid, created, first, left, tokens = completion_id(), int(time.time()), None, set(metas), 0
    for i in sorted(metas):
        yield _data(chunk(cid, req.model, created, {"role": "assistant", "content": ""}, index=i))
    while left:
        i, (what, *rest) = early.pop(0) if early else await choices.queue.get()
        if what == "delta":
            first = first or time.perf_counter()
            field = "reasoning_content" if rest[0] == "reasoning" else "content"
            yield _data(chunk(cid, req.model, created, {field: rest[1]}, index=i))
        elif what == "error":
            err = _job_error(rest[0], req)
            state.metrics.error(err.status)
            yield _data(body(err.status, err.message, err.param, err.code))
            choices.cancel(client_left=False)
            break
        elif what == "done":
            gen, choices.jobs[i].finished = rest[0], True
            left.discard(i)
            tokens += gen.tokens
            _record(state, kind, True, metas[i], gen, started, first)
            yield _data(chunk(cid, req.model, created, {}, gen.finish_reason, extra=_extra(metas[i], gen), index=i))
    if include_usage and not left:
        yield _data(chunk(cid, req.model, created, None, use=usage(metas[0]["prompt_tokens"], tokens)))
    yield "data: [DONE]\n\n"
