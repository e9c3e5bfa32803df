"""Manifests written for the reference (HiveLLM) schema validate unchanged, and every field they
set either takes effect or gets one line saying why not."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from expertkit.manifest.layout import packaging_checkpoint_dir
from expertkit.manifest.loader import inspect_manifest, parse_manifest
from expertkit.manifest.problems import shorten

CORPUS = Path(__file__).parent / "reference_corpus" / "expert-refsql"


@pytest.fixture
def corpus(tmp_path) -> Path:
    shutil.copytree(CORPUS, tmp_path / "expert-refsql")
    return tmp_path / "expert-refsql" / "manifest.json"


def _raw() -> dict:
    return json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))


def _problems(raw: dict, base: Path | None = None) -> list:
    return parse_manifest(raw, base, check_files=base is not None)[2]


def test_corpus_validates_with_exit_0_and_no_typo_warnings(cli, corpus):
    assert b"\r\n" in corpus.read_bytes()
    res = cli("validate", "--manifest", corpus)
    assert res.exit_code == 0, res.stdout
    assert "unknown key" not in res.stdout and "typos?" not in res.stdout
    # each section's unused reference keys: one line, with the reason
    lines = [line for line in res.stdout.splitlines() if "not used by expertkit" in line]
    assert len(lines) == len({line.split(":")[0] for line in lines})
    assert any("training.config:" in line and "use_sdpa" in line and "pretokenized_cache" in line for line in lines)
    assert any(line.startswith("warning runtime:") and "candle_compatible" in line for line in lines)


def test_a_key_neither_schema_knows_is_still_a_typo():
    raw = _raw()
    raw["training"]["config"]["learnin_rate"] = 1
    found = [p for p in _problems(raw) if "unknown key" in p.message]
    assert [p.path for p in found] == ["training.config.learnin_rate"]


@pytest.mark.parametrize("shape", ["object", "list"])
def test_alternative_checkpoints_object_or_list(shape):
    raw = _raw()
    entry = {"path": "weights/m/checkpoint-5", "step": 5, "score": 1.0}
    raw["training"]["alternative_checkpoints"] = {"checkpoint-5": entry} if shape == "object" else [entry]
    model, _, problems = parse_manifest(raw, None, check_files=False)
    assert model is not None and not [p for p in problems if p.severity == "error"]
    assert model.training.checkpoint_entries() == [("checkpoint-5", entry)]


def test_packaging_checkpoint_name_resolves_through_alternative_checkpoints(corpus):
    raw = json.loads(corpus.read_text(encoding="utf-8"))
    raw["training"]["packaging_checkpoint"] = "checkpoint-250"
    corpus.write_text(json.dumps(raw), encoding="utf-8")
    (corpus.parent / "weights/qwen3-0-6b/checkpoint-250").mkdir(parents=True)
    loaded, _ = inspect_manifest(corpus, check_files=False)
    assert packaging_checkpoint_dir(loaded) == corpus.parent / "weights/qwen3-0-6b/checkpoint-250"


def test_record_checkpoints_keeps_the_object_shape():
    from expertkit.evaluation.checkpoints import CheckpointResult, record_checkpoints

    raw = _raw()
    result = CheckpointResult("weights/qwen3-0-6b/checkpoint-250", 250, 8.0, 4, 5, "2026-01-01")
    record_checkpoints(raw, [result], result)
    alt = raw["training"]["alternative_checkpoints"]
    assert list(alt) == ["checkpoint-250"]
    assert alt["checkpoint-250"]["best_for"] == ["simple_select"] and alt["checkpoint-250"]["benchmark_score"] == 8.0


@pytest.mark.parametrize("value", [True, False, "full", "selective"])
def test_gradient_checkpointing_bool_or_strategy(value):
    raw = _raw()
    raw["training"]["config"]["gradient_checkpointing"] = value
    assert not [p for p in _problems(raw) if p.severity == "error"]


def test_gradient_checkpointing_selective_runs_full_with_one_warning():
    from expertkit.manifest.model import TrainingConfig
    from expertkit.training.trainer import _checkpointing

    said: list[str] = []
    assert _checkpointing(TrainingConfig(gradient_checkpointing="selective"), said.append) is True
    assert _checkpointing(TrainingConfig(gradient_checkpointing="full"), said.append) is True
    assert len(said) == 1 and "selective" in said[0]


@pytest.mark.parametrize("steps, ratio, value, text", [
    (0, 0.1, 0.1, "warmup_steps is 0, so warmup_ratio is used"),
    (None, 0.1, 0.1, "0.1 of the optimizer steps"),
    (5, 0.1, 5, "warmup_steps wins over warmup_ratio 0.1"),
    (5, None, 5, "warmup: 5 steps"),
    (None, None, 0, "warmup: none"),
])
def test_warmup_ratio_wins_when_steps_is_zero(steps, ratio, value, text):
    from expertkit.manifest.model import TrainingConfig
    from expertkit.training.trainer import resolve_warmup

    got, note = resolve_warmup(TrainingConfig(warmup_steps=steps, warmup_ratio=ratio))
    assert got == value and text in note


def test_warmup_both_positive_is_one_validate_line():
    raw = _raw()
    raw["training"]["config"]["warmup_steps"] = 10
    found = [p for p in _problems(raw) if "warmup" in p.path]
    assert len(found) == 1 and found[0].severity == "warning" and "wins over warmup_ratio" in found[0].message


def test_max_steps_zero_means_epochs():
    raw = _raw()
    assert raw["training"]["config"]["max_steps"] == 0
    assert not [p for p in _problems(raw) if "max_steps" in p.path]
    raw["training"]["config"]["max_steps"] = -1
    assert [p for p in _problems(raw) if p.path == "training.config.max_steps" and p.severity == "error"]


def test_capability_without_prefix_is_a_warning():
    found = [p for p in _problems(_raw()) if p.path == "capabilities[3]"]
    assert found and found[0].severity == "warning"


@pytest.mark.parametrize("repository", ["https://example.org/x.git", {"type": "git", "url": "https://example.org/x.git"}])
def test_repository_string_or_object(repository):
    raw = _raw()
    raw["repository"] = repository
    assert not [p for p in _problems(raw) if p.severity == "error"]


def test_num_epochs_is_an_alias_of_epochs():
    raw = _raw()
    del raw["training"]["config"]["epochs"]
    raw["training"]["config"]["num_epochs"] = 2.5
    model, _, problems = parse_manifest(raw, None, check_files=False)
    assert model.training.config.epochs == 2.5
    assert not [p for p in problems if "num_epochs" in p.message or "num_epochs" in p.path]


def test_missing_soft_prompt_is_a_warning_and_pickle_gets_a_conversion_line(corpus):
    problems = _problems(json.loads(corpus.read_text(encoding="utf-8")), corpus.parent)
    missing = [p for p in problems if p.path == "soft_prompts[0].path"]
    assert missing[0].severity == "warning" and "train --soft-prompt sql-style" in missing[0].message
    raw = json.loads(corpus.read_text(encoding="utf-8"))
    raw["soft_prompts"][0]["path"] = "sp.pt"
    (corpus.parent / "sp.pt").write_bytes(b"not loaded")
    pt = [p for p in _problems(raw, corpus.parent) if p.path == "soft_prompts[0].path"]
    assert pt[0].severity == "warning" and "weights_only=True" in pt[0].message and "never loaded" in pt[0].message


def test_a_type_error_does_not_hide_range_and_file_checks(corpus):
    raw = json.loads(corpus.read_text(encoding="utf-8"))
    raw["training"]["config"]["batch_size"] = "two"
    raw["training"]["config"]["dropout"] = 3
    raw["training"]["decoding"]["grammar_file"] = "nope.gbnf"
    paths = {p.path for p in _problems(raw, corpus.parent) if p.severity == "error"}
    assert {"training.config.batch_size", "training.config.dropout", "training.decoding.grammar_file"} <= paths


def test_values_are_cut_with_an_ellipsis_not_mid_word():
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    cut = shorten(text, 30)
    assert cut.endswith("…") and text.startswith(cut[:-1]) and cut[:-1].split()[-1] in text.split()
    raw = _raw()
    raw["training"]["alternative_checkpoints"] = "x " * 80
    message = next(p.message for p in _problems(raw) if p.path == "training.alternative_checkpoints")
    assert "…" in message


def test_json_carries_name_and_version_when_they_are_valid(cli, corpus):
    raw = json.loads(corpus.read_text(encoding="utf-8"))
    raw["training"]["config"]["rank"] = 0
    corpus.write_text(json.dumps(raw), encoding="utf-8")
    payload = json.loads(cli("validate", "--manifest", corpus, "--json").stdout)
    assert payload["valid"] is False and payload["name"] == "expert-refsql" and payload["version"] == "0.2.0"


def test_validate_compiles_the_grammar_and_checks_rules(cli, corpus):
    raw = json.loads(corpus.read_text(encoding="utf-8"))
    raw["training"]["decoding"]["reasoning_rule"] = "thinking"
    raw["training"]["decoding"]["grammar_slots"] = {"ident": {"message": "user", "pattern": "(\\w+)"}, "table": {"message": "user", "pattern": "(\\w+)"}}
    corpus.write_text(json.dumps(raw), encoding="utf-8")
    res = cli("validate", "--manifest", corpus)
    assert res.exit_code == 2
    assert "training.decoding.reasoning_rule: 'thinking' is not a rule of grammar.gbnf" in res.stdout
    assert "training.decoding.grammar_slots.table: 'table' is not a rule" in res.stdout
    assert "grammar_slots.ident" not in res.stdout
    grammar = corpus.parent / "grammar.gbnf"
    grammar.write_bytes(grammar.read_bytes() + b"broken ::= ( \"x\"\r\n")
    res = cli("validate", "--manifest", corpus)
    assert res.exit_code == 2 and re.search(r"grammar.gbnf:1[01]:\d+: grammar does not compile", res.stdout)


def test_original_is_untouched_by_the_checks():
    raw = _raw()
    before = copy.deepcopy(raw)
    raw["training"]["config"]["batch_size"] = "two"
    mutated = copy.deepcopy(raw)
    _problems(raw)
    assert raw == mutated and before != mutated
