"""Eight `expert-cli install` processes at once: every expert recorded, registry.json consistent."""

from __future__ import annotations

import json
import subprocess
import sys

from expertkit.home import experts_dir, registry_file
from expertkit.registry.install import install
from expertkit.registry.store import read_registry

N = 8


def test_parallel_installs_of_different_experts(make_package, signing_key, tmp_path):
    packages = [make_package(f"expert-par{i}", key=signing_key) for i in range(N)]
    procs = [subprocess.Popen([sys.executable, "-m", "expertkit.cli.main", "install", str(p)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in packages]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * N, outputs
    data = json.loads(registry_file().read_text())
    assert sorted(data["experts"]) == sorted(f"expert-par{i}" for i in range(N))
    for name, entry in data["experts"].items():
        assert entry["current"] == "0.1.0"
        assert (experts_dir() / name / "0.1.0" / "manifest.json").is_file()
    leftovers = [p.name for p in experts_dir().rglob(".*")] + [p.name for p in registry_file().parent.glob(".registry.json.*")]
    assert leftovers == []


def test_parallel_threads(make_package, signing_key):
    from concurrent.futures import ThreadPoolExecutor

    packages = [make_package(f"expert-th{i}", key=signing_key) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: install(str(p)), packages))
    assert sorted(r.name for r in results) == sorted(read_registry()["experts"])
