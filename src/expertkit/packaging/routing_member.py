"""The package's `routing/` members: what the router needs, computed once at `package` time.

    routing/index.json              {"format", "embedder", "dim", "examples", "systems", "source", "source_sha256", "text"}
    routing/embeddings.safetensors  "examples" [N, dim], "systems" [M, dim] and "description" [1, dim],
                                    float16, L2-normalised

The examples are the prompts of the expert's own training split (up to `MAX_EXAMPLES`, spread
evenly over the file), embedded exactly as the router embeds a request (`routing_text`); the
systems are the split's distinct system messages (up to `MAX_SYSTEMS`), embedded as the router
embeds a request's system message (`system_text`): what the expert is given to work on (a
schema, a JSON Schema) says as much about a request as its question. "systems" is optional (a
package made before it routes by its examples alone), so the format stays 1. Both
members go into DIGESTS like every other member, so the signature covers them, and an installed
copy is checked against the installed DIGESTS before use. Nothing here is recomputed per request;
a package without `routing/` still routes by its manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from expertkit.errors import IntegrityError, PackageError
from expertkit.packaging.digests import DIGESTS_NAME, parse_digests, sha256_bytes

ROUTING_INDEX = "routing/index.json"
ROUTING_EMBEDDINGS = "routing/embeddings.safetensors"
ROUTING_FORMAT = 1
MAX_EXAMPLES = 200
MAX_SYSTEMS = 100
SYSTEM_CHARS = 64
TEXT_RULE = "user"


def routing_text(user: str, system: str | None = None) -> str:
    """The text the router embeds, at package time and per request alike (one rule, here).

    The user message only: the system message is mostly data (a schema, a JSON Schema) that
    keywords read well and that would triple the tokens embedded per request (bench/route.py:
    with system[:200] the p50 was ~4x, and accuracy no better).
    """
    del system
    return user.strip()


def system_text(system: str | None) -> str | None:
    """The system message as the router embeds it (package time and per request): its head, which
    says what kind of input it is ("Dialect: sqlite / Schema: ..", "Answer with one JSON object ..").
    64 characters is ~20 tokens, so the request's two texts batch at about one text's cost; on the
    bench's dev half 64, 96 and 128 characters route alike (48 loses two prompts)."""
    text = (system or "").strip()[:SYSTEM_CHARS]
    return text or None


def description_text(description: str, router_hint: str | None) -> str:
    return f"{description.strip()} {router_hint.strip()}".strip() if router_hint else description.strip()


@dataclass
class RoutingData:
    embedder: str
    examples: np.ndarray  # [N, dim] float32, normalised
    description: np.ndarray | None  # [dim]
    info: dict[str, Any]
    systems: np.ndarray | None = None  # [M, dim]: the training split's system messages; None in older packages


def split_prompts(path: Path) -> list[tuple[str | None, str]]:
    """(system, user) of every example in a prepared split (`{"messages": [...]}` per line)."""
    out: list[tuple[str | None, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line).get("messages") or []
        except (ValueError, AttributeError):
            raise PackageError(f"{path}:{number}: not a prepared example (JSON with `messages`)") from None
        by_role = {m.get("role"): m.get("content") or "" for m in reversed(messages) if isinstance(m, dict)}
        if by_role.get("user"):
            out.append((by_role.get("system"), by_role["user"]))
    return out


def spread(items: list[Any], limit: int = MAX_EXAMPLES) -> list[Any]:
    """At most ``limit`` items taken evenly over the list (deterministic; the generator's order varies)."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def build_routing_members(prompts: list[tuple[str | None, str]], description: str, embedder: Any, *,
                          source: str, source_sha256: str) -> dict[str, bytes]:
    """The two `routing/` members for ``prompts`` (system, user) and the expert's description text."""
    from safetensors.numpy import save

    chosen = spread(prompts)
    examples = embedder.embed([routing_text(user, system) for system, user in chosen])
    systems = spread(list(dict.fromkeys(t for t in (system_text(s) for s, _ in prompts) if t)), MAX_SYSTEMS)
    system_rows = embedder.embed(systems)
    desc = embedder.embed([description]) if description else np.zeros((0, embedder.dim), dtype=np.float32)
    tensors = {"examples": examples.astype(np.float16), "systems": system_rows.astype(np.float16),
               "description": desc.astype(np.float16)}
    index = {"format": ROUTING_FORMAT, "embedder": embedder.id, "dim": int(embedder.dim), "examples": len(chosen),
             "systems": len(systems),
             "source": source, "source_sha256": source_sha256, "text": TEXT_RULE}
    return {ROUTING_INDEX: (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8"),
            ROUTING_EMBEDDINGS: save(tensors, metadata={"format": str(ROUTING_FORMAT)})}


def parse_routing(files: Mapping[str, bytes], label: str = "package") -> RoutingData | None:
    """The routing data in ``files`` (member name -> bytes); None when the package has none."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    if ROUTING_INDEX not in files:
        return None
    try:
        info = json.loads(files[ROUTING_INDEX].decode("utf-8"))
        tensors = load(files[ROUTING_EMBEDDINGS])
    except (KeyError, ValueError, UnicodeDecodeError, SafetensorError) as exc:
        raise PackageError(f"{label}: unreadable routing data ({exc})", hint="re-package the expert") from None
    if info.get("format") != ROUTING_FORMAT or "examples" not in tensors:
        raise PackageError(f"{label}: routing data format {info.get('format')!r} is not {ROUTING_FORMAT}",
                           hint="re-package the expert with this expertkit")
    desc, systems = tensors.get("description"), tensors.get("systems")
    return RoutingData(str(info.get("embedder")), tensors["examples"].astype(np.float32),
                       desc[0].astype(np.float32) if desc is not None and len(desc) else None, info,
                       systems.astype(np.float32) if systems is not None and len(systems) else None)


def read_routing_dir(path: Path) -> RoutingData | None:
    """Routing data of an installed (extracted) expert, checked against its DIGESTS first."""
    names = (ROUTING_INDEX, ROUTING_EMBEDDINGS)
    if not (path / ROUTING_INDEX).is_file():
        return None
    files = {n: (path / n).read_bytes() for n in names if (path / n).is_file()}
    digests_file = path / DIGESTS_NAME
    listed = parse_digests(digests_file.read_bytes()) if digests_file.is_file() else {}
    for name in names:
        if name not in listed or name not in files or sha256_bytes(files[name]) != listed[name]:
            raise IntegrityError(f"{path}: {name} does not match the installed DIGESTS",
                                 hint="the installed copy was altered; reinstall the expert")
    return parse_routing(files, str(path))
