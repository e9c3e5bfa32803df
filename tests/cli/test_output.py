"""The one output helper: the same command on a terminal, piped and with --json; errors; Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from expertkit.cli.output import Output
from expertkit.packaging.keys import generate_keypair
from expertkit.packaging.trust import add_trusted_file
from tests.conftest import REPO_ROOT


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_trust_list_piped_and_json(cli, tmp_path):
    pair = generate_keypair(tmp_path / "with space" / "k")
    add_trusted_file(pair.public_path)
    piped = cli("trust", "list")
    assert piped.exit_code == 0 and pair.key_id[:16] in piped.stdout and "\x1b[" not in piped.stdout
    as_json = json.loads(cli("trust", "list", "--json").stdout)
    assert as_json == {"keys": [{"key_id": pair.key_id, "path": as_json["keys"][0]["path"]}]}


def test_every_reporting_command_has_json(cli, tmp_path):
    res = cli("keygen", "--output", tmp_path / "k", "--json")
    key = json.loads(res.stdout)
    assert res.exit_code == 0 and set(key) == {"private_key", "public_key", "key_id"}
    added = json.loads(cli("trust", "add", key["public_key"], "--json").stdout)
    removed = json.loads(cli("trust", "remove", key["key_id"][:12], "--json").stdout)
    assert added["keys"][0]["key_id"] == removed["keys"][0]["key_id"] == key["key_id"]
    assert json.loads(cli("list", "--json").stdout) == {"experts": []}


def test_error_under_json_is_an_object_on_stdout(cli):
    res = cli("trust", "remove", "deadbeefdeadbeef", "--json")
    error = json.loads(res.stdout)["error"]
    assert res.exit_code == 2 == error["exit_code"] and error["type"] == "UsageError" and error["message"]
    plain = cli("trust", "remove", "deadbeefdeadbeef")
    assert plain.exit_code == 2 and plain.stdout == "" and plain.stderr.startswith("error: ")


def test_a_library_param_is_named_as_the_cli_flag(cli, tmp_path):
    from tests.manifest.samples import valid_manifest, write_manifest

    res = cli("dataset", "validate", tmp_path / "x.jsonl", "--manifest", write_manifest(tmp_path, valid_manifest()), "--model", "nope")
    assert res.exit_code == 2 and "error: --model: base model 'nope'" in res.stderr


def test_piped_tables_are_not_cut_and_warnings_go_to_stderr(monkeypatch, capsys):
    from rich.table import Table

    long = "/very/long/" + "directory/" * 30 + "file.expert"
    out = Output()
    table = Table("name", "path")
    table.add_row("x", long)
    out.table(table)
    out.warn("careful [@VERSION]")
    captured = capsys.readouterr()
    assert long in captured.out and captured.err == "warning: careful [@VERSION]\n"


def test_terminal_gets_rich_text_and_json_stays_plain(monkeypatch):
    tty = _Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    Output().print("[green]✓[/] done")
    assert "\x1b[" in tty.getvalue() and "done" in tty.getvalue()
    tty.truncate(0)
    tty.seek(0)
    Output(json_out=True).result({"ok": True}, lambda: None)
    assert json.loads(tty.getvalue()) == {"ok": True}


def test_progress_prints_plain_lines_when_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("EXPERT_PROGRESS_SECONDS", "0.05")
    with Output().progress("test") as progress:
        time.sleep(0.2)  # loading the model: no count yet
        progress.update(1, 3, "expert")
        time.sleep(0.3)  # a long batch: the ticker still prints
        progress.update(3, 3, "expert")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("test: working (")
    counted = lines[lines.index(next(x for x in lines if x.startswith("expert: "))):]
    assert counted[0].startswith("expert: 1/3") and counted[-1].startswith("expert: 3/3") and len(counted) >= 3
    assert all(line.startswith("expert: ") for line in counted)


def test_ctrl_c_in_a_command_exits_130_without_traceback(cli, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("expertkit.packaging.trust.list_trusted", interrupted)
    res = cli("trust", "list")
    assert res.exit_code == 130 and res.stderr.strip() == "interrupted" and "Traceback" not in res.output


def _wait_until_reading_stdin(pid: int, limit: float = 60.0) -> None:
    """Until the process blocks on its stdin pipe (Linux: /proc/PID/wchan), else a fixed pause."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if "pipe" in wchan.read_text():
                return
        except OSError:
            break
        time.sleep(0.1)
    time.sleep(4)


def test_ctrl_c_on_the_real_process_exits_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "EXPERT_HOME": str(tmp_path)}
    # validate reads the manifest from a pipe nobody writes to: the process waits there for SIGINT
    proc = subprocess.Popen([sys.executable, "-m", "expertkit.cli.main", "validate", "--manifest", "/dev/stdin"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        _wait_until_reading_stdin(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip() == "interrupted"


def test_help_wraps_and_keeps_brackets(cli):
    root = cli("--help").stdout
    cut = [line for line in root.splitlines()[1:] if line.rstrip().endswith(("...", "…"))]
    assert not cut and "newer version" in root
    assert "NAME[@VERSION]" in cli("ask", "--help").stdout and "<bool>" not in cli("test", "--help").stdout


def test_json_answer_then_a_negative_outcome_keeps_one_document(capsys):
    """`test --json` whose cases fail: stdout is the one result document, the failure a line on stderr."""
    from expertkit.cli.errors import report
    from expertkit.cli.output import Output, new_command
    from expertkit.errors import TestsFailed

    new_command()
    Output(json_out=True).result({"passed": 1, "total": 2})
    code = report(TestsFailed("1 of 2 test case(s) failed"))
    out, err = capsys.readouterr()
    assert json.loads(out) == {"passed": 1, "total": 2}
    assert code == 1 and err.startswith("error: 1 of 2 test case(s) failed")
    new_command()  # the next command starts clean: its error is the JSON document again
    Output(json_out=True)
    report(TestsFailed("again"))
    assert json.loads(capsys.readouterr().out)["error"]["message"] == "again"
