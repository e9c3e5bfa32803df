"""The root app: commands registered by explicit imports, and --help/--version stay light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

HEAVY = ("torch", "transformers", "peft", "trl", "rich", "pydantic", "click")


def test_start_up_imports_nothing_heavy():
    # --help and --version pay for typer only; click is typer's vendored copy, not a second one
    code = ("import sys, expertkit.cli.main as m; m.app(['--version'], standalone_mode=False); "
            f"import json; print(json.dumps([n for n in {HEAVY!r} if n in sys.modules]))")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_every_command_module_is_registered(cli):
    from expertkit.cli.main import COMMAND_MODULES

    root = cli("--help").stdout
    assert len(COMMAND_MODULES) == 15
    for name in ("new", "validate", "schema", "models", "dataset", "train", "test", "package", "keygen", "sign",
                 "verify", "trust", "install", "list", "info", "uninstall", "update", "ask", "chat", "route", "serve", "export"):
        assert f"  {name} " in root, name
