"""The README's "Python SDK" block, run as written against real tiny experts installed in a temp EXPERT_HOME.

The only stand-ins: the experts are random LoRA adapters on the tiny Llama (expert-sql with a
grammar, expert-json), and the package `Expert.load` reads is expert-sql's, signed with a key
trusted in that home, at the path the quickstart writes it to.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.runtime.chat_builders import chat_packages

QUICKSTART_PACKAGE = "weights/expert-sql-smollm2-135m-instruct.v0.1.0.expert"


def sdk_block() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Python SDK", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def sdk_home(tmp_path, tiny_llama_dir, expert_home, monkeypatch):
    """expert_home with the experts installed; cwd holds the signed package where the quickstart puts it."""
    import torch

    from expertkit.packaging.signing import sign_package
    from expertkit.packaging.trust import create_key
    from expertkit.registry.install import Options, install

    packages = chat_packages(tmp_path / "build", tiny_llama_dir)
    for package in packages.values():
        install(str(package), Options(allow_unsigned=True))
    pair, _ = create_key(tmp_path / "key")
    target = tmp_path / "work" / QUICKSTART_PACKAGE
    target.parent.mkdir(parents=True)
    shutil.copy2(packages["sql"], target)
    sign_package(target, pair.private_path)
    monkeypatch.chdir(tmp_path / "work")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls on a shared 2-core machine
    yield Path.cwd()
    torch.set_num_threads(before)


def test_readme_sdk_block_runs_as_written(sdk_home, capsys):
    scope: dict = {}
    exec(compile(sdk_block(), "README.md (Python SDK)", "exec"), scope)  # noqa: S102 - our own README
    rt = scope["rt"]
    try:
        assert scope["decision"].experts == ["expert-sql"]
        assert scope["result"].experts == ["expert-sql"] and scope["result"].route.experts == ["expert-sql"]
        expert = scope["expert"]
        assert (expert.name, expert.version, expert.kind, expert.trusted) == ("expert-sql", "0.1.0", "lora", True)
        assert "expert-sql" in rt.engine_for().pool  # attached on first use
    finally:
        rt.close()
    out = capsys.readouterr().out
    assert "['expert-sql']" in out and "expert-sql 0.1.0 lora" in out
