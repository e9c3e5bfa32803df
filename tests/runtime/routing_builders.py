"""Real packages for router tests: the expert-sql example's and the expert-json fixture's routing
fields on the tiny model, a real LoRA adapter, a training split, built and installed by our code.

The fixture (tests/runtime/data/expert-json: a manifest and a small fixed split) was the bench's
stand-in for a JSON expert; bench/route.py now routes against examples/expert-json, and the tests
keep the fixture because it is small and fixed (the example's split is generated)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.packaging.expert_builders import make_expert_dir, package_expert

ROOT = Path(__file__).resolve().parents[2]
SQL_MANIFEST = ROOT / "examples" / "expert-sql" / "manifest.json"
JSON_FIXTURE = ROOT / "tests" / "runtime" / "data" / "expert-json"  # a JSON expert's routing fields and split, for tests

SQL_TRAIN = [("Dialect: sqlite\nSchema:\nusers(id, name, age)", "How many users are older than 40?"),
             ("Dialect: sqlite\nSchema:\ncars(id, make, year)", "List the makes of cars built after 2015."),
             ("Dialect: sqlite\nSchema:\nshops(id, city, revenue)", "Which city has the highest total revenue?")]


def routing_fields(manifest: Path) -> dict[str, Any]:
    raw = json.loads(manifest.read_text())
    return {k: raw[k] for k in ("description", "capabilities", "routing", "constraints") if k in raw}


def write_split(root: Path, prompts: list[tuple[str | None, str]]) -> None:
    rows = []
    for system, user in prompts:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": "x"}]
        rows.append(json.dumps({"text": "", "messages": messages}))
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    (root / "datasets" / "train.jsonl").write_text("\n".join(rows) + "\n")


def build_routed_expert(tmp: Path, name: str, fields: dict[str, Any], base_model: Path, adapter: Path, *,
                        prompts: list[tuple[str | None, str]] | None, embedder: Any = None, **build_kw: Any) -> Path:
    """An expert dir with ``fields`` (description, capabilities, routing) and a training split, packaged."""
    root = make_expert_dir(tmp / name, name, base_model, adapter)
    raw = json.loads((root / "manifest.json").read_text())
    raw.update(fields)
    (root / "manifest.json").write_text(json.dumps(raw, indent=2) + "\n")
    if prompts:
        write_split(root, prompts)
    return package_expert(root, output=tmp / f"{name}.expert", embedder=embedder, **build_kw)


def json_train() -> list[tuple[str | None, str]]:
    from expertkit.packaging.routing_member import split_prompts

    return split_prompts(JSON_FIXTURE / "datasets" / "train.jsonl")[:12]


def install(path: Path) -> None:
    from expertkit.registry.install import Options
    from expertkit.registry.install import install as do_install

    do_install(str(path), Options(allow_unsigned=True))
