"""Shared fixtures: an isolated EXPERT_HOME, offline hub, tiny real models, the CLI runner."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]

# Under `make test`'s pytest-xdist workers (one per core), one torch/OpenMP thread per worker and per
# process a test starts: two workers of two threads each oversubscribe CI's 2 cores (the reduced demo
# took 818 s beside the other worker against 402 s alone). A run on one worker keeps the default.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# A run started in the background by a non-interactive shell inherits SIGINT ignored, and exec keeps an
# ignored signal ignored in every process a test starts: the Ctrl-C tests need the default disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items) -> None:
    """The real-model tests (`slow`, minutes each) first: under `make test`'s two pytest-xdist workers the
    longest jobs start first, so no worker is left running one at the end while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # a stable sort: otherwise collection order


@pytest.fixture(autouse=True)
def expert_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own EXPERT_HOME; nothing touches ~/.expert."""
    home = tmp_path_factory.mktemp("expert_home")
    monkeypatch.setenv("EXPERT_HOME", str(home))
    monkeypatch.delenv("EXPERT_DEBUG", raising=False)
    monkeypatch.setenv("EXPERT_PROGRESS_SECONDS", "0")  # no timed progress lines: stderr depends on the output, not the VM's speed
    return home


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    from expertkit.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_llama"), "llama")


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory) -> Path:
    from expertkit.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_qwen3"), "qwen3")


@pytest.fixture(params=["llama", "qwen3"])
def tiny_model_dir(request, tiny_llama_dir, tiny_qwen3_dir) -> Path:
    """Both tiny architectures, for tests that must hold for each."""
    return tiny_llama_dir if request.param == "llama" else tiny_qwen3_dir


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:
        return f"CliResult(exit_code={self.exit_code}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


@pytest.fixture
def cli(monkeypatch):
    """Run `expert-cli ARGS...` in-process through the real entry point (typer app + error mapping)."""
    from typer.testing import CliRunner

    from expertkit.cli.main import app

    runner = CliRunner()

    def run(*args: str | Path, cwd: Path | None = None, input: str | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        res = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return CliResult(res.exit_code, res.stdout, res.stderr)

    return run


@pytest.fixture(scope="session")
def real_model_home(tmp_path_factory) -> Path:
    """A `models/` dir holding the real default model (SmolLM2-135M), converted once per session (~30 s).

    Only `slow` tests should use it (through `real_model`). Set EXPERTKIT_REAL_MODELS to an already
    prepared `$EXPERT_HOME/models` dir to skip the conversion.
    """
    from expertkit.models.aliases import ALIASES, DEFAULT_MODEL, prepare_alias

    given = os.environ.get("EXPERTKIT_REAL_MODELS")
    if given and (Path(given) / DEFAULT_MODEL / "config.json").is_file():
        return Path(given)
    # under pytest-xdist each worker has its own session: the workers share one conversion in the run's
    # common temp dir (prepare_alias converts under a lock; whoever comes second finds it ready)
    shared = os.environ.get("PYTEST_XDIST_WORKER") is not None
    home = tmp_path_factory.getbasetemp().parent / "real_model_home" if shared else tmp_path_factory.mktemp("real_model_home")
    home.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPERT_HOME", str(home))
        prepare_alias(ALIASES[DEFAULT_MODEL])
    return home / "models"


@pytest.fixture
def real_model(real_model_home, expert_home) -> str:
    """Link the session's converted real model into this test's EXPERT_HOME; returns the alias name to use."""
    import shutil

    from expertkit.models.aliases import DEFAULT_MODEL

    models = expert_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / DEFAULT_MODEL).symlink_to(real_model_home / DEFAULT_MODEL, target_is_directory=True)
    if (real_model_home / "index.json").is_file():  # carries the cached digest (keyed by the real path)
        shutil.copy2(real_model_home / "index.json", models / "index.json")
    return DEFAULT_MODEL
