"""The Python SDK (expertkit/sdk.py) on real tiny experts: generate/stream/complete, auto, attach, Expert.load."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from expertkit.errors import CompositionError, IntegrityError
from tests.conftest import REPO_ROOT
from tests.runtime.chat_builders import SQL_SYSTEM, chat_packages


@pytest.fixture(scope="module")
def packages(tmp_path_factory, tiny_llama_dir):
    return chat_packages(tmp_path_factory.mktemp("sdk"), tiny_llama_dir)


@pytest.fixture
def installed(packages, expert_home):
    """expert-sql and expert-json installed; expert-xml stays a package on disk."""
    import torch

    from expertkit.registry.install import Options, install

    for key in ("sql", "json"):
        install(str(packages[key]), Options(allow_unsigned=True))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield packages
    torch.set_num_threads(before)


def test_import_is_lazy():
    code = ("import sys, expertkit; from expertkit import Runtime, Expert, Completion; "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


def test_generate_stream_and_complete_agree(installed):
    from expertkit import Runtime

    with Runtime(device="cpu") as rt:
        text = rt.generate("list the users", experts="expert-sql", enable_thinking=False)
        pieces = list(rt.generate("list the users", experts="expert-sql", enable_thinking=False, stream=True))
        result = rt.complete("list the users", experts="expert-sql", enable_thinking=False)
        assert text.startswith("SELECT ") and "".join(pieces) == text == str(result)
        assert result.experts == ["expert-sql"] and result.tokens > 0 and result.route is None
        assert rt.complete("list the users", max_new_tokens=3).experts == []  # the base model
        both = rt.complete("list the users", experts=["expert-sql", "expert-json"], max_new_tokens=3)
        assert set(both.experts) == {"expert-sql", "expert-json"}
        with pytest.raises(CompositionError, match="not installed: expert-nope"):
            rt.generate("x", experts="expert-nope")


def test_base_model_answers_under_no_experts_settings(installed):
    """The engine loads for expert-sql (a grammar) yet the base model answers as itself (issue #18)."""
    from expertkit import Runtime
    from expertkit.runtime.settings import DecodingSettings

    with Runtime(device="cpu") as rt:
        assert rt.generate("list the users", experts="expert-sql", enable_thinking=False).startswith("SELECT ")
        base = rt.complete("list the users", max_new_tokens=6)
        assert base.experts == [] and not base.text.startswith("SELECT ")
        plan = rt.engine_for().resolve([])
        assert plan.settings == DecodingSettings() and plan.system_prompt is None


def test_auto_routes_and_says_why(installed):
    from expertkit import Runtime

    with Runtime(device="cpu") as rt:
        sql = rt.complete("How many books came out before 1950?", experts="auto", system=SQL_SYSTEM, max_new_tokens=3)
        assert sql.experts == ["expert-sql"] and sql.route.confidence > 0
        off = rt.complete("Write a haiku about the sea.", experts="auto", max_new_tokens=3)
        assert off.experts == [] and off.route.abstained
        assert rt.route("Write a haiku about the sea.").experts == []


def test_alternatives_pick_one_expert_per_request_with_its_own_settings(installed):
    from expertkit import Runtime

    with Runtime(device="cpu") as rt:
        sql = rt.complete("How many books came out before 1950?", experts="expert-sql|expert-json", system=SQL_SYSTEM,
                          enable_thinking=False)
        assert sql.experts == ["expert-sql"] and sql.route.chosen == "expert-sql"
        assert sql.text.startswith("SELECT ")  # expert-sql's grammar applies: it runs alone, not composed
        js = rt.complete("Extract the name as JSON: Ana Lima wrote to us.", experts="expert-sql|expert-json",
                         max_new_tokens=3)
        assert js.experts == ["expert-json"] and js.route.to_dict()["gate"]["chosen"] == "expert-json"
        assert "".join(rt.generate("list the users", experts="expert-sql|expert-json", system=SQL_SYSTEM,
                                   enable_thinking=False, stream=True)).startswith("SELECT ")
        chat = rt.chat("expert-sql|expert-json", system=SQL_SYSTEM, think=False)
        assert chat.ask("How many books came out before 1950?").experts == ["expert-sql"]


def test_chat_session_from_the_runtime(installed):
    from expertkit import Runtime

    with Runtime(device="cpu") as rt:
        chat = rt.chat("expert-sql", think=False)
        assert chat.ask("list the users").answer.startswith("SELECT")
        assert chat.ask("and the orders?").experts == ["expert-sql"] and len(chat.history) == 2


def test_expert_load_verifies_without_installing(installed, tmp_path):
    from expertkit import Expert, Runtime
    from expertkit.registry.store import read_registry

    path = installed["xml"]
    with pytest.raises(IntegrityError, match="unsigned"):
        Expert.load(path)
    expert = Expert.load(path, allow_unsigned=True)
    assert (expert.name, expert.version, expert.kind, expert.signer) == ("expert-xml", "0.1.0", "lora", None)
    assert expert.warnings and expert.report.manifest["name"] == "expert-xml"
    assert "expert-xml" not in read_registry()["experts"]
    with Runtime(device="cpu") as rt:
        assert rt.attach(expert) == "expert-xml"
        assert rt.complete("hi", experts="expert-xml", max_new_tokens=2).experts == ["expert-xml"]
    tampered = shutil.copy2(path, tmp_path / "tampered.expert")
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="refused"):
        Expert.load(tampered, allow_unsigned=True)
