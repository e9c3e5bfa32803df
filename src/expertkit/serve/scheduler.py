"""The scheduler: one worker thread owns the engine; the asyncio side only queues jobs and reads events.

Waiting jobs with the same decoding overrides run as one `stream_batch` call (up to ``max_batch``
rows), whatever experts each names: the engine mixes experts in a batch (the decoder: any
chains; PEFT: single LoRA experts). A job that is cancelled (its client went away) leaves the
queue at once, or stops its row at the next token while the rest of its batch goes on.
``max_queue`` bounds the waiting jobs; past it `submit` raises `QueueFull` (the app answers 503).

Events a job receives, in order: ``("meta", dict)`` once it is resolved (chain, prompt tokens),
``("delta", channel, text)`` per piece, ``("done", Generation)``; or ``("error", exception)``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from expertkit.runtime.compose import is_gated
from expertkit.runtime.prompts import Request, build_prompt


class QueueFull(Exception):
    pass


@dataclass(eq=False)
class Job:
    request: Request  # experts None = route it ("auto"); alternatives "a|b": route among them
    overrides: dict[str, Any]
    deliver: Callable[[tuple[Any, ...]], None]  # thread-safe: hands an event to the asyncio side
    seed: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: bool = False  # the client got the whole answer (set by the asyncio side)

    @property
    def key(self) -> tuple[Any, ...]:
        """Jobs with equal keys can share a batch."""
        return tuple(sorted((k, repr(v)) for k, v in self.overrides.items())) + (self.seed,)


class Scheduler:
    """Batches jobs onto ``engine`` in one worker thread (see the module doc)."""

    def __init__(self, engine: Any, *, max_batch: int = 8, max_queue: int = 64,
                 router: Callable[[], Any] | None = None, batch_wait_s: float = 0.05) -> None:
        self.engine = engine
        # clients answered by one batch come back within milliseconds of each other: after a batch of
        # several rows the worker waits this long for them to refill the next one (alone: no wait)
        self.batch_wait_s = batch_wait_s
        self._last_rows = 0
        self.max_batch = max(1, max_batch)
        self.max_queue = max(0, max_queue)
        self._router_factory = router
        self._router: Any = None
        self._pending: deque[Job | tuple[Callable[[], Any], Future]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.running = 0  # rows in the batch being decoded
        self._thread = threading.Thread(target=self._loop, name="expertkit-engine", daemon=True)

    # -- the asyncio side --------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def depth(self) -> int:
        """Jobs waiting for a batch."""
        return sum(isinstance(item, Job) for item in self._pending)

    def submit(self, job: Job, *more: Job) -> None:
        """Queue ``job`` (and ``more``: the other choices of an n > 1 request, all or none, in one go so
        the worker finds them together and decodes them in one batch)."""
        jobs = (job, *more)
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if self.depth + len(jobs) > self.max_queue:
                raise QueueFull(f"the queue is full ({self.max_queue} waiting)")
            self._pending.extend(jobs)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """The client went away: leave the queue now, or stop the row at its next token."""
        job.cancelled.set()
        with self._cond:
            try:
                self._pending.remove(job)
            except ValueError:
                pass

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn`` in the worker between batches (attach/detach touch the model)."""
        future: Future = Future()
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            self._pending.appendleft((fn, future))
            self._cond.notify()
        return future

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new jobs, finish the queued and running ones, end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- the worker --------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                self._gather()
                item = self._pending.popleft()
                group = self._group(item) if isinstance(item, Job) else None
            if group is None:
                fn, future = item  # type: ignore[misc]
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the caller, which maps it
                    future.set_exception(exc)
            else:
                self._run(group)

    def _gather(self) -> None:
        """With the lock held: give concurrent clients ``batch_wait_s`` to fill the next batch."""
        if self._last_rows < 2 or self.batch_wait_s <= 0:
            return
        deadline = time.monotonic() + self.batch_wait_s
        while not self._stopping and self.depth < self.max_batch and (left := deadline - time.monotonic()) > 0:
            self._cond.wait(left)

    def _group(self, first: Job) -> list[Job]:
        """``first`` and the waiting jobs that can share its batch, oldest first."""
        group, rest = [first], deque()
        while self._pending and len(group) < self.max_batch:
            item = self._pending.popleft()
            (group if isinstance(item, Job) and item.key == first.key else rest).append(item)
        self._pending.extendleft(reversed(rest))
        return group

    def _run(self, group: list[Job]) -> None:
        ready = []
        for job in group:
            try:
                job.request, meta = self._prepare(job)
            except BaseException as exc:
                job.deliver(("error", exc))
                continue
            job.deliver(("meta", meta))
            ready.append(job)
        if not ready:
            return
        if ready[0].seed is not None:
            import torch

            torch.manual_seed(ready[0].seed)
        finished: set[int] = set()
        self.running = self._last_rows = len(ready)
        try:
            stream = self.engine.stream_batch([j.request for j in ready], batch_size=len(ready),
                                              stop_row=lambda i: ready[i].cancelled.is_set(), **ready[0].overrides)
            for delta in stream:
                job = ready[delta.row]
                if delta.generation is not None:
                    finished.add(delta.row)
                    job.deliver(("done", delta.generation))
                elif delta.text and not job.cancelled.is_set():
                    job.deliver(("delta", delta.channel, delta.text))
        except BaseException as exc:
            for i, job in enumerate(ready):
                if i not in finished:
                    job.deliver(("error", exc))
        finally:
            self.running = 0

    def _prepare(self, job: Job) -> tuple[Request, dict[str, Any]]:
        """Route ("auto"), resolve the chain, compile its grammar and count the prompt, in this thread:
        a bad request fails alone, not the batch it would have joined."""
        request, meta = job.request, {}
        if request.experts is None or is_gated(request.experts):  # "auto" or alternatives: the router decides
            decision = self._route(request)
            run = decision.run
            request = replace(request, experts=run if isinstance(run, str) else tuple(run))
            meta["route"] = decision.to_dict()
        experts = request.experts if isinstance(request.experts, str) else list(request.experts or ())
        plan = self.engine.resolve(experts, **job.overrides)
        if request.messages is not None and plan.system_prompt and all(m["role"] != "system" for m in request.messages):
            # as for a bare question: the expert's system prompt (e.g. its schema) when the client gave none
            request = replace(request, messages=({"role": "system", "content": plan.system_prompt}, *request.messages))
        messages = request.to_messages(plan.system_prompt)
        if plan.settings.use_grammar:
            self.engine.compiled_grammar(plan.settings, messages)
        prompt = build_prompt(messages, plan.settings.enable_thinking)
        tokens = len(self.engine.tokenizer.encode(prompt, add_special_tokens=False))
        window = getattr(self.engine.base.model.config, "max_position_embeddings", None)
        if window and tokens + plan.settings.max_new_tokens > window:
            from expertkit.errors import UsageError

            raise UsageError(f"the prompt ({tokens} tokens) plus max_tokens ({plan.settings.max_new_tokens}) exceeds "
                             f"the model's context of {window} tokens", param="max_tokens")
        meta.update(experts=plan.chain.names, chain=plan.chain.to_dict(), max_chain=plan.chain.max_chain,
                    grammar=plan.settings.use_grammar, decided_by=plan.decided_by,
                    prompt_tokens=tokens)
        return request, meta

    def _route(self, request: Request) -> Any:
        """The router's decision for ``request`` (experts None: "auto"; else its alternatives), on its
        last user message and its system message."""
        from expertkit.runtime.gating import AUTO, choose

        spec = request.experts if isinstance(request.experts, str) else AUTO
        if self._router is None:
            if self._router_factory is None:
                from expertkit.errors import UsageError

                raise UsageError(f"model {spec!r}: no router on this server", param="model")
            self._router = self._router_factory()
        messages = request.to_messages()
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        return choose(spec, self._router, user, system, self.engine.pool.lookup)

    def reset_router(self) -> None:
        """Experts were attached or detached: build the router again on the next "auto"."""
        self._router = None
