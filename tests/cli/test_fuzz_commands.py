"""Hypothesis: random bad values for every command's options and arguments, and for manifest fields.

Each run must end with exit 2 or 3 (1 where a package is refused, as `verify` does), state the
error in one line (plus an optional hint), show no traceback and write nothing: not in the
working directory, not in EXPERT_HOME. Bounded (few examples, in-process CLI) to stay well
under a minute.
"""

from __future__ import annotations

import json
import math

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.manifest.samples import valid_manifest

SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Every option or argument that takes a value, by the kind of value it takes. A command added to the
# CLI without a row here fails `test_every_command_is_fuzzed`.
NUMBER, COUNT, SEED, DEVICE, FILE, REF = "number", "count", "seed", "device", "file", "ref"
OPTIONS = {
    "new": [], "validate": [("--manifest", FILE)], "schema": [], "list": [],
    "train": [("--manifest", FILE), ("--epochs", NUMBER), ("--max-steps", COUNT), ("--seed", SEED), ("--device", DEVICE)],
    "test": [("--manifest", FILE), ("--batch-size", COUNT), ("--max-new-tokens", COUNT), ("--device", DEVICE)],
    "package": [("--manifest", FILE)], "keygen": [], "sign": [(None, FILE)], "verify": [(None, FILE)],
    "install": [(None, FILE)], "info": [(None, REF)], "uninstall": [(None, REF)], "update": [(None, REF)],
    "ask": [(None, REF), ("--max-new-tokens", COUNT), ("--device", DEVICE)],
    "chat": [(None, REF), ("--max-new-tokens", COUNT), ("--context-tokens", COUNT), ("--device", DEVICE)],
    "route": [("--top-k", COUNT), ("--threads", COUNT)], "serve": [("--max-batch", COUNT)],
    "export vllm": [(None, REF)], "export merged": [(None, REF)],
    "models list": [], "models prepare": [], "models import": [(None, FILE)], "models show": [],
    "dataset prepare": [("--manifest", FILE), ("--seed", SEED)], "dataset validate": [(None, FILE)],
    "dataset stats": [], "trust add": [(None, FILE)], "trust list": [], "trust remove": [(None, REF)],
}
PACKAGE_READERS = {"verify", "install"}  # a refused package is a negative result: exit 1, like verify

NOT_A_NUMBER = st.text(min_size=1, max_size=12).filter(lambda s: not _is_number(s) and not s.startswith("-"))
BAD = {
    NUMBER: NOT_A_NUMBER | st.sampled_from(["nan", "inf", "0", "-1", "1e400"]),
    COUNT: NOT_A_NUMBER | st.integers(max_value=0).map(str) | st.floats(allow_nan=False).filter(lambda f: f != int(f) if math.isfinite(f) else True).map(str),
    SEED: NOT_A_NUMBER | st.integers(min_value=2**32).map(str) | st.integers(max_value=-1).map(str),
    DEVICE: st.text(min_size=1, max_size=10).filter(lambda s: s not in ("auto", "cpu") and not s.startswith("-")),
    REF: st.text(max_size=16).filter(lambda s: not s.startswith("-")),
    FILE: st.binary(max_size=300),
}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def snapshot(*roots):
    return {str(p): p.stat().st_mtime_ns for root in roots for p in root.rglob("*") if p.is_file()}


def check(res, allowed=(2, 3)) -> None:
    assert res.exit_code in allowed, res
    assert "Traceback" not in res.output, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    if not lines:
        return  # a report command (validate, dataset validate): one line per problem on stdout
    if lines[0].startswith("error:"):  # ours: one line, then at most a hint
        assert len(lines) <= 2 and (len(lines) == 1 or lines[1].lstrip().startswith("hint:")), res.stderr
    elif res.exit_code != 1:  # the option parser's box names the one bad parameter
        assert sum(("Invalid value" in line or "No such" in line or "Missing" in line or "Got unexpected" in line)
                   for line in lines) == 1, res.stderr


def test_every_command_is_fuzzed():
    from expertkit.cli.main import app

    def walk(cmd, prefix=()):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, prefix + (name,))
        else:
            yield " ".join(prefix)

    assert set(walk(typer.main.get_command(app))) == set(OPTIONS)


CASES = [(cmd, opt, kind) for cmd, opts in OPTIONS.items() for opt, kind in opts]


@pytest.mark.parametrize("command, option, kind", CASES, ids=[f"{c}:{o or 'arg'}" for c, o, _ in CASES])
@SETTINGS
@given(data=st.data())
def test_bad_option_values(cli, tmp_path, expert_home, command, option, kind, data):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    value = data.draw(BAD[kind])
    if kind == FILE:
        suffix = {"models import": ".gguf", "install": ".expert", "verify": ".expert", "sign": ".expert"}.get(command, ".json")
        path = work / f"input{suffix}"
        path.write_bytes(value)
        value = str(path)
    before = snapshot(work, expert_home)
    args = command.split() + ([option, value] if option else [value])
    if command in ("ask", "route"):
        args.append("a question")
    if command == "chat":  # scripted: one answer, never a prompt waiting for stdin
        args += ["--prompt", "a question"]
    if command.startswith("export "):
        args += ["--output", str(work / "exported")]
    res = cli(*args, cwd=work)
    check(res, (1, 2, 3) if command in PACKAGE_READERS else (2, 3))
    assert snapshot(work, expert_home) == before, f"{args} wrote files"


# manifest fields with the wrong type (the model is strict, like its JSON Schema)
FIELDS = {
    "training.config.rank": "int", "training.config.batch_size": "int", "training.config.max_seq_length": "int",
    "constraints.load_order": "int", "training.dataset.seed": "int", "training.config.epochs": "float",
    "training.config.learning_rate": "float", "training.config.fp16": "bool", "training.config.packing": "bool",
    "training.config.adapter_type": "choice", "name": "str", "version": "str", "capabilities": "list",
}
WRONG = {
    "int": st.text(max_size=6) | st.booleans() | st.floats(allow_nan=False).filter(lambda f: f != int(f) if math.isfinite(f) else True) | st.lists(st.integers(), max_size=2),
    "float": st.text(max_size=6) | st.booleans() | st.lists(st.floats(), max_size=2) | st.none(),
    "bool": st.text(max_size=6) | st.integers() | st.none() | st.lists(st.booleans(), max_size=2),
    "choice": st.text(max_size=8).filter(lambda s: s not in ("lora", "dora", "ia3")) | st.integers(),
    "str": st.integers() | st.booleans() | st.lists(st.text(max_size=3), max_size=2) | st.none(),
    "list": st.text(max_size=8) | st.integers() | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
}


def with_value(data: dict, path: str, value) -> dict:
    node, parts = data, path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


@pytest.mark.parametrize("command", [("validate",), ("dataset", "prepare"), ("train",), ("package",), ("test",)])
@settings(SETTINGS, max_examples=12)
@given(field=st.sampled_from(sorted(FIELDS)), data=st.data())
def test_bad_manifest_fields(cli, tmp_path, expert_home, command, field, data):
    expert = tmp_path / "expert"
    (expert / "datasets" / "raw").mkdir(parents=True, exist_ok=True)
    value = data.draw(WRONG[FIELDS[field]])
    manifest = expert / "manifest.json"
    manifest.write_text(json.dumps(with_value(valid_manifest(), field, value), indent=2), encoding="utf-8")
    before = snapshot(expert, expert_home)
    res = cli(*command, "--manifest", manifest, cwd=expert)
    check(res)
    assert snapshot(expert, expert_home) == before, f"{command} with {field}={value!r} wrote files"
    if command == ("validate",):
        assert field in res.stdout, res.stdout
