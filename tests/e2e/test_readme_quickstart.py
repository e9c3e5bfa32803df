"""The README's quickstart, run as written: every line of its code block, in order.

Two stand-ins keep it fast and offline, and nothing else is changed: a tiny random model copied
into a directory named like the default model (so every path in the README is the same) is given
to `new --base-model` instead of `models prepare`, `train` gets `--max-steps 2`, and answers are
capped at 8 tokens in the new manifest (a random model never stops by itself).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.data.builders import sql_examples

ROOT = Path(__file__).resolve().parents[2]
NEGATIVE_OK = ("test", "tests/test_expert.py")  # a random model may fail its cases: exit 1 is a result, not a breakage


def quickstart_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def words(line: str) -> list[str]:
    # bash's $'...' (used for the multi-line --system) -> an ordinary quoted word
    line = re.sub(r"\$'((?:[^'\\]|\\.)*)'", lambda m: shlex.quote(m.group(1).encode().decode("unicode_escape")), line)
    return shlex.split(line, comments=True)


@pytest.mark.e2e
def test_readme_quickstart_runs_as_written(cli, tmp_path, tiny_qwen3_dir, expert_home):
    model = shutil.copytree(tiny_qwen3_dir, tmp_path / "models" / "smollm2-135m-instruct")
    cwd, ran = tmp_path, []
    for line in quickstart_lines():
        for part in line.split("&&"):
            argv = words(part)
            if not argv:  # a comment line: the README asks the user for data here
                write_what_the_user_writes(part, cwd)
                continue
            if argv[0] == "cd":
                cwd = cwd / argv[1]
                continue
            if argv[:3] == ["expert-cli", "models", "prepare"]:
                continue  # the tiny model stands in for the default one
            if argv[:2] == ["expert-cli", "new"]:
                argv += ["--base-model", str(model)]
            if argv[:2] == ["expert-cli", "train"]:
                argv += ["--max-steps", "2"]
            started = time.perf_counter()
            code, output = run(cli, argv, cwd)
            if argv[:2] == ["expert-cli", "new"]:  # a tiny random model never stops on its own: short answers
                cwd = cwd / argv[2]
                manifest = json.loads((cwd / "manifest.json").read_text())
                manifest["training"]["decoding"]["max_new_tokens"] = 8
                (cwd / "manifest.json").write_text(json.dumps(manifest, indent=2))
                cwd = cwd.parent
            print(f"{time.perf_counter() - started:7.1f} s  {part.strip()[:90]}")
            allowed = (0, 1) if any(argv[1] == w or w in argv[1] for w in NEGATIVE_OK) else (0,)
            assert code in allowed, f"{part.strip()!r} exited {code}:\n{output[-3000:]}"
            assert "Traceback" not in output, output[-3000:]
            ran.append((part.strip(), code, output))
    by_command = {cmd.split()[1]: out for cmd, _, out in ran if cmd.startswith("expert-cli")}
    assert "verified" in by_command["verify"] and "installed expert-sql 0.1.0" in by_command["install"]
    assert "expert-sql" in by_command["list"]
    assert len(ran) >= 15


def run(cli, argv: list[str], cwd: Path) -> tuple[int, str]:
    if argv[0] == "expert-cli":
        res = cli(*argv[1:], cwd=cwd)
        return res.exit_code, res.stdout + res.stderr
    assert argv[0] == "python", argv
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])})
    return proc.returncode, proc.stdout + proc.stderr


def write_what_the_user_writes(comment: str, expert: Path) -> None:
    if "raw examples" in comment:
        raw = expert / "datasets" / "raw" / "sql.jsonl"
        raw.write_text("".join(json.dumps(r) + "\n" for r in sql_examples(40)), encoding="utf-8")
    elif "test cases" in comment:
        path = expert / "tests" / "test_cases.json"
        cases = json.loads(path.read_text(encoding="utf-8"))
        cases["test_cases"] = [{"id": f"t{i}", "input": r["instruction"], "expected_output": r["output"]}
                               for i, r in enumerate(sql_examples(2, start=900))]
        path.write_text(json.dumps(cases, indent=2), encoding="utf-8")
    else:
        raise AssertionError(f"a README comment line the test doesn't know: {comment!r}")
