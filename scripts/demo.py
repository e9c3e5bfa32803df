#!/usr/bin/env python3
"""Interim `make demo`: create an expert with `expert-cli new` and validate it, in demo-out/.

The demo issue replaces this with the whole guide (prepare, train, test, package, install).
demo-out/ is removed and recreated on every run, so the demo always starts from nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-out"


def cli_path() -> str:
    script = Path(sys.executable).parent / "expert-cli"
    return str(script) if script.exists() else "expert-cli"


def run(*args: str, cwd: Path) -> None:
    """Run one expert-cli command, echoing it and its output; stop the demo if it fails."""
    print(f"\n$ expert-cli {' '.join(args)}   (in {cwd.relative_to(ROOT)})", flush=True)
    env = {**os.environ, "EXPERT_HOME": str(OUT / "expert-home")}
    proc = subprocess.run([cli_path(), *args], cwd=cwd, env=env)
    if proc.returncode != 0:
        sys.exit(f"demo failed: `expert-cli {' '.join(args)}` exited {proc.returncode}")


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    print(f"interim demo: scaffold an expert and validate it in {OUT.relative_to(ROOT)}/")
    run("--version", cwd=OUT)
    run("new", "sql", cwd=OUT)
    expert = OUT / "expert-sql"
    run("validate", "--manifest", "manifest.json", cwd=expert)
    run("validate", "--manifest", "manifest.json", "--json", cwd=expert)
    print(f"\n$ expert-cli schema > expert-manifest.schema.json   (in {expert.relative_to(ROOT)})", flush=True)
    with open(expert / "expert-manifest.schema.json", "w") as fh:
        subprocess.run([cli_path(), "schema"], cwd=expert, stdout=fh, check=True)
    print(f"\ndone: {expert.relative_to(ROOT)}/ holds the new expert and its manifest schema.")


if __name__ == "__main__":
    main()
