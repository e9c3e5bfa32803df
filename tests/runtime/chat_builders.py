"""An EXPERT_HOME for chat and SDK tests: three real tiny LoRA experts, packaged and installed by our code.

expert-sql (the example's routing fields, a grammar), expert-json (the route fixture's routing
fields) and expert-xml (incompatible with expert-json), all on the tiny Llama.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.expert_builders import make_expert_dir, make_lora_adapter, package_expert
from tests.runtime.routing_builders import JSON_FIXTURE, SQL_MANIFEST, routing_fields

SQL_GRAMMAR = 'root ::= "SELECT " [a-z]+ " FROM " [a-z]+ ";"\n'
SQL_SYSTEM = "Dialect: sqlite\nSchema:\nbooks(id, title, year)"


def build(tmp: Path, name: str, model: Path, adapter: Path, *, fields: dict[str, Any] | None = None,
          grammar: str | None = None, max_new_tokens: int = 6, **manifest: Any) -> Path:
    root = make_expert_dir(tmp / name, name, model, adapter, **manifest)
    data = json.loads((root / "manifest.json").read_text())
    data.update(fields or {})
    data["training"]["decoding"] = {"max_new_tokens": max_new_tokens, "use_grammar": grammar is not None}
    (root / "manifest.json").write_text(json.dumps(data, indent=2))
    if grammar is not None:
        (root / "grammar.gbnf").write_text(grammar)
    return package_expert(root, output=tmp / f"{name}.expert")


def chat_packages(tmp: Path, model: Path) -> dict[str, Path]:
    adapter = make_lora_adapter(model, tmp / "adapter")
    return {"sql": build(tmp, "expert-sql", model, adapter, fields=routing_fields(SQL_MANIFEST), grammar=SQL_GRAMMAR),
            "json": build(tmp, "expert-json", model, adapter, fields=routing_fields(JSON_FIXTURE / "manifest.json")),
            "xml": build(tmp, "expert-xml", model, adapter, incompatible_with=["expert-json"])}


def chat_home(tmp: Path, model: Path) -> Path:
    """A home with the three experts installed (unsigned, allowed)."""
    from expertkit.registry.install import Options, install

    home = tmp / "home"
    packages = chat_packages(tmp, model)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPERT_HOME", str(home))
        for package in packages.values():
            install(str(package), Options(allow_unsigned=True))
    return home
