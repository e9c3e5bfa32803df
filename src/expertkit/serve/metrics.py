"""Prometheus metrics of one server (its own registry, so several apps in a process don't collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self, depth: Callable[[], float], running: Callable[[], float], attached: Callable[[], float]) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("expertkit_requests", "Chat completion requests answered", ["model_kind", "stream"], registry=r)
        self.errors = Counter("expertkit_request_errors", "Error answers by HTTP status", ["status"], registry=r)
        self.prompt_tokens = Counter("expertkit_prompt_tokens", "Prompt tokens processed", registry=r)
        self.completion_tokens = Counter("expertkit_completion_tokens", "Completion tokens generated", registry=r)
        self.latency = Histogram("expertkit_request_latency_seconds", "Request latency (accepted to last token)",
                                 buckets=_LATENCY, registry=r)
        self.ttft = Histogram("expertkit_time_to_first_token_seconds", "Time from accepted to the first token",
                              buckets=_LATENCY, registry=r)
        self.expert_requests = Counter("expertkit_expert_requests", "Requests per expert in the resolved chain",
                                       ["expert"], registry=r)
        self.cancelled = Counter("expertkit_cancelled_requests", "Requests whose client went away before the end", registry=r)
        Gauge("expertkit_queue_depth", "Requests waiting for a batch", registry=r).set_function(depth)
        Gauge("expertkit_running_requests", "Rows in the batch being decoded", registry=r).set_function(running)
        Gauge("expertkit_attached_experts", "Experts attached to the base model", registry=r).set_function(attached)

    def error(self, status: int) -> None:
        self.errors.labels(status=str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
