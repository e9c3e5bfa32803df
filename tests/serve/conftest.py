"""A real `expert-cli serve` subprocess on a free 127.0.0.1 port, over tiny installed experts.

One server per test module (``serve_home`` + ``server``); every wait is bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.packaging.expert_builders import make_expert_dir, package_expert

START_TIMEOUT_S = 180
API_KEY = "sk-test-key"
SQL_GRAMMAR = 'root ::= "SELECT " [a-z]+ ";"\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(tmp: Path, name: str, model: Path, adapter: Path, *, grammar: str | None = None, decoding: dict | None = None,
          fields: dict | None = None, system_prompt: str | None = None, keywords: list[str] | None = None,
          **manifest: object) -> Path:
    """A packaged tiny expert; ``decoding`` adds to its decoding settings, ``fields`` to its manifest."""
    root = make_expert_dir(tmp / name, name, model, adapter, **manifest)
    data = json.loads((root / "manifest.json").read_text())
    data.update(fields or {})
    if keywords:  # what the router needs to choose among alternatives
        data["routing"] = {"keywords": keywords}
    data["training"]["decoding"] = {"max_new_tokens": 6, "use_grammar": grammar is not None, **(decoding or {})}
    if system_prompt is not None:
        data["training"]["dataset"] = {"system_prompt": system_prompt}
    (root / "manifest.json").write_text(json.dumps(data, indent=2))
    if grammar is not None:
        (root / "grammar.gbnf").write_text(grammar)
    return package_expert(root, output=tmp / f"{name}.expert")


@pytest.fixture(scope="module")
def serve_home(tmp_path_factory, tiny_llama_dir) -> Path:
    """EXPERT_HOME with expert-sql (with a grammar), expert-json (both with routing keywords) and expert-xml
    (incompatible with json)."""
    from expertkit.registry.install import Options, install
    from tests.packaging.expert_builders import make_lora_adapter

    tmp = tmp_path_factory.mktemp("serve")
    home = tmp / "home"
    adapter = make_lora_adapter(tiny_llama_dir, tmp / "adapter")
    packages = [build(tmp, "expert-sql", tiny_llama_dir, adapter, grammar=SQL_GRAMMAR, keywords=["sql", "sqlite", "schema"]),
                build(tmp, "expert-json", tiny_llama_dir, adapter, keywords=["json", "extract"]),
                build(tmp, "expert-xml", tiny_llama_dir, adapter, incompatible_with=["expert-json"])]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPERT_HOME", str(home))
        for package in packages:
            install(str(package), Options(allow_unsigned=True))
    return home


class Server:
    def __init__(self, home: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "EXPERT_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT / "src"),
               "EXPERT_THREADS": "1"}
        self.log = home.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "expertkit.cli.main", "serve", "--port", str(self.port), *args],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not start in {START_TIMEOUT_S}s:\n{self.log.read_text()[-3000:]}")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def server(serve_home):
    srv = Server(serve_home, "--api-key", API_KEY, "--max-batch", "4", "--max-queue", "8", "--enable-lora-admin",
                 "--backend", "decoder")
    yield srv
    srv.stop()
