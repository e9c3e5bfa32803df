"""Backpressure (503 + Retry-After), a client leaving mid-stream frees its slot, /metrics, adapter
attach/detach over HTTP, and SIGTERM draining in-flight requests then exiting 0 (last: it stops the server)."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from tests.serve.conftest import Server

LONG = {"max_tokens": 900, "use_grammar": False, "chat_template_kwargs": {"enable_thinking": False}}
FORCED = 'root ::= "' + "ab " * 400 + '"'  # a grammar with one answer: the row can't end early
DEADLINE_S = 60


@pytest.fixture(scope="module")
def small(serve_home):
    srv = Server(serve_home, "--max-batch", "2", "--max-queue", "2", "--enable-lora-admin")
    yield srv
    srv.stop()


def body(model="expert-json", **kw):
    return {"model": model, "messages": [{"role": "user", "content": "go on"}], **LONG, **kw}


def wait_for(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def health(srv) -> dict:
    return httpx.get(f"{srv.url}/health", timeout=10).json()


def metric(srv, name: str) -> float:
    text = httpx.get(f"{srv.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name) and not line.startswith("#"))


def open_stream(srv, client: httpx.Client, **kw):
    """A streaming request whose first token has arrived (so its row is running)."""
    res = client.send(client.build_request("POST", f"{srv.url}/v1/chat/completions", json=body(stream=True, **kw)), stream=True)
    lines = res.iter_lines()
    while "content" not in next(lines) or not res.is_success:
        pass
    return res, lines


def test_full_queue_is_503_with_retry_after_and_a_leaving_client_frees_its_slot(small):
    client = httpx.Client(timeout=DEADLINE_S)
    res, _ = open_stream(small, client, grammar=FORCED, use_grammar=None)  # a long row, running
    waiting: list[httpx.Response] = []

    def short() -> None:
        waiting.append(httpx.post(f"{small.url}/v1/chat/completions", json=body(max_tokens=3), timeout=DEADLINE_S))

    threads = [threading.Thread(target=short) for _ in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: health(small)["queue_depth"] == 2, "two waiting requests")
    full = httpx.post(f"{small.url}/v1/chat/completions", json=body(max_tokens=2), timeout=10)
    assert full.status_code == 503 and full.headers["Retry-After"] == "1" and full.json()["error"]["code"] == "queue_full"
    before = metric(small, "expertkit_cancelled_requests_total")
    started = time.monotonic()
    res.close()  # the client leaves mid-stream: its row stops, the waiting requests get the slot
    client.close()
    for t in threads:
        t.join(DEADLINE_S)
    assert [r.status_code for r in waiting] == [200, 200]
    assert max(r.json()["expertkit"]["batch_size"] for r in waiting) == 2
    wait_for(lambda: metric(small, "expertkit_cancelled_requests_total") >= before + 1, "the cancellation counted")
    assert health(small)["queue_depth"] == 0 and time.monotonic() - started < DEADLINE_S


def test_metrics_after_traffic(small):
    res = httpx.post(f"{small.url}/v1/chat/completions", json=body(max_tokens=3), timeout=DEADLINE_S)
    assert res.status_code == 200
    text = httpx.get(f"{small.url}/metrics", timeout=10).text
    for name in ("expertkit_requests_total", "expertkit_request_errors_total", "expertkit_prompt_tokens_total",
                 "expertkit_completion_tokens_total", "expertkit_request_latency_seconds_bucket",
                 "expertkit_time_to_first_token_seconds_bucket", "expertkit_expert_requests_total{expert=\"expert-json\"}",
                 "expertkit_queue_depth", "expertkit_attached_experts"):
        assert name in text, name
    assert 'expertkit_request_errors_total{status="503"}' in text


def test_load_and_unload_adapter_vllm_shape(small, serve_home):
    path = next((serve_home / "experts" / "expert-sql").iterdir())
    url = f"{small.url}/v1"
    res = httpx.post(f"{url}/load_lora_adapter", json={"lora_name": "sql-copy", "lora_path": str(path)}, timeout=DEADLINE_S)
    assert res.status_code == 200 and "sql-copy" in res.text
    assert "sql-copy" in {m["id"] for m in httpx.get(f"{url}/models").json()["data"]}
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=DEADLINE_S)
    out = client.chat.completions.create(model="sql-copy", messages=[{"role": "user", "content": "x"}], max_tokens=2)
    assert out.model_extra["expertkit"]["experts"] == ["sql-copy"]
    again = httpx.post(f"{url}/load_lora_adapter", json={"lora_name": "sql-copy", "lora_path": str(path)})
    assert again.status_code == 400
    bad = httpx.post(f"{url}/load_lora_adapter", json={"lora_name": "other", "lora_path": "/nowhere"}, timeout=DEADLINE_S)
    assert bad.status_code == 400 and bad.json()["error"]["message"]
    assert httpx.post(f"{url}/unload_lora_adapter", json={"lora_name": "sql-copy"}, timeout=DEADLINE_S).status_code == 200
    assert httpx.post(f"{url}/unload_lora_adapter", json={"lora_name": "sql-copy"}).status_code == 404


def test_sigterm_finishes_in_flight_refuses_new_and_exits_0(small):
    client = httpx.Client(timeout=DEADLINE_S)
    res, lines = open_stream(small, client, max_tokens=200)
    small.proc.terminate()  # SIGTERM
    wait_for(lambda: health_refused(small), "the listener to close")
    rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]"  # the in-flight stream ran to its end
    assert small.proc.wait(DEADLINE_S) == 0


def health_refused(srv) -> bool:
    try:
        httpx.get(f"{srv.url}/health", timeout=2)
    except httpx.HTTPError:
        return True
    return False
