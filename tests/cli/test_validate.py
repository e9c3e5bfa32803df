"""`expert-cli validate` through the real entry point: every error class -> its message, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from expertkit import __version__
from tests.manifest.samples import legacy_manifest, valid_manifest, write_manifest


def _set(path: str, value):
    def edit(m):
        *parents, leaf = path.split(".")
        node = m
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value

    return edit


_DELETE = object()
CFG = "training.config"

# (id, edit, the JSON path reported, text the message must contain)
ERROR_CASES = [
    ("bad-name", _set("name", "SQL"), "name", "'SQL' is not allowed (expected `expert-<name>`"),
    ("missing-name", _set("name", _DELETE), "name", "missing (required)"),
    ("bad-version", _set("version", "1.0"), "version", "'1.0' is not a semantic version"),
    ("no-base-models", _set("base_models", []), "base_models", "empty (expected at least one base model)"),
    ("quantization", _set("base_models.0.quantization", "int3"), "base_models[0].quantization", '"int3" is invalid (expected'),
    ("prompt-template", _set("base_models.0.prompt_template", "gpt"), "base_models[0].prompt_template", "'chatml'"),
    ("bad-sha", _set("base_models.0.sha256", "abc"), "base_models[0].sha256", "not a sha256 hex digest"),
    ("rank-zero", _set(f"{CFG}.rank", 0), f"{CFG}.rank", "0 is not allowed (DoRA: use 12-16)"),
    ("rank-missing", _set(f"{CFG}.rank", _DELETE), f"{CFG}.rank", "missing (DoRA: use 12-16)"),
    ("rank-type", _set(f"{CFG}.rank", "twelve"), f"{CFG}.rank", '"twelve" is invalid (expected a valid integer'),
    ("adapter-type", _set(f"{CFG}.adapter_type", "qlora"), f"{CFG}.adapter_type", "'lora', 'dora' or 'ia3'"),
    ("targets-empty", _set(f"{CFG}.target_modules", []), f"{CFG}.target_modules", "empty (expected module names"),
    ("epochs-type", _set(f"{CFG}.epochs", "x"), f"{CFG}.epochs", "expected a valid number"),
    ("lr-negative", _set(f"{CFG}.learning_rate", -1), f"{CFG}.learning_rate", "-1 is not allowed (expected > 0)"),
    ("dropout", _set(f"{CFG}.dropout", 1.5), f"{CFG}.dropout", "1.5 is not allowed"),
    ("temperature", _set("training.decoding.temperature", -1), "training.decoding.temperature", "-1 is not allowed"),
    ("load-order-high", _set("constraints.load_order", 11), "constraints.load_order", "11 is not allowed (expected 1-10"),
    ("load-order-zero", _set("constraints.load_order", 0), "constraints.load_order", "0 is not allowed"),
    ("requires-bad", _set("constraints.requires", ["sql"]), "constraints.requires[0]", "'sql' is not `expert-<name>`"),
    ("requires-spec", _set("constraints.requires", ["expert-json@>>1"]), "constraints.requires[0]", "'>>1' is not a version spec"),
    ("requires-self", _set("constraints.requires", ["expert-sql"]), "constraints.requires[0]", "cannot require itself"),
    ("incompatible-self", _set("constraints.incompatible_with", ["expert-sql"]), "constraints.incompatible_with[0]", "incompatible with itself"),
    ("incompatible-bad", _set("constraints.incompatible_with", ["JSON"]), "constraints.incompatible_with[0]", "is not an expert name"),
    ("limitation", _set("limitations", [{"description": "x"}]), "limitations[0].pattern", "missing (required)"),
    ("limitation-type", _set("limitations", [5]), "limitations[0]", "5 is invalid (expected a valid string or"),
    ("schema-version", _set("schema_version", "3.0"), "schema_version", "'3.0' is not supported"),
    ("split-sum", _set("training.dataset.split", {"train": 0.9, "validation": 0.2, "test": 0.1}), "training.dataset.split", "sum to 1.2"),
    ("grammar-missing", _set("training.decoding.grammar_file", "sql.gbnf"), "training.decoding.grammar_file", "sql.gbnf not found"),
    ("use-grammar", _set("training.decoding.use_grammar", True), "training.decoding.use_grammar", "no grammar.gbnf"),
    ("best-without-eval", _set(f"{CFG}.evaluation_strategy", "no"), f"{CFG}.load_best_model_at_end", "needs evaluation_strategy"),
]


@pytest.mark.parametrize("case_id, edit, path, text", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_each_error_class_has_its_message_and_exit_2(tmp_path, cli, case_id, edit, path, text):
    data = valid_manifest()
    edit(data)
    manifest = write_manifest(tmp_path, data)
    res = cli("validate", "--manifest", manifest)
    assert res.exit_code == 2, res
    assert "Traceback" not in res.output
    lines = [line for line in res.stdout.splitlines() if line.startswith("error")]
    assert any(f" {path}: " in line and text in line for line in lines), res.stdout
    payload = json.loads(cli("validate", "--manifest", manifest, "--json").stdout)
    assert payload["valid"] is False
    assert any(p["path"] == path and text in p["message"] for p in payload["errors"]), payload


def test_ia3_forbids_rank_and_alpha(tmp_path, cli):
    data = valid_manifest("ia3")
    data["training"]["config"].update(rank=8, alpha=16)
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    assert "training.config.rank: not allowed for ia3" in res.stdout
    assert "training.config.alpha: not allowed for ia3" in res.stdout


def test_ia3_feedforward_must_be_a_subset_of_targets(tmp_path, cli):
    data = valid_manifest("ia3")
    data["training"]["config"]["feedforward_modules"] = ["gate_proj"]
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    assert "training.config.feedforward_modules: gate_proj not in target_modules" in res.stdout


def test_every_problem_is_reported_at_once(tmp_path, cli):
    data = valid_manifest()
    data["name"] = "Bad Name"
    data["training"]["config"]["rank"] = 0
    data["constraints"]["load_order"] = 42
    data["training"]["config"]["batch_size"] = "four"  # a type error must not hide the other checks
    data["training"]["decoding"]["grammar_file"] = "missing.gbnf"
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    for path in ("name", "training.config.rank", "constraints.load_order", "training.config.batch_size",
                 "training.decoding.grammar_file"):
        assert f"error   {path}: " in res.stdout
    assert "5 error(s)" in res.stdout


def test_type_errors_and_name_rules_show_together(tmp_path, cli):
    data = valid_manifest()
    data["name"] = "nope"
    data["training"]["config"]["epochs"] = "many"
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    assert "name: 'nope' is not allowed" in res.stdout and "training.config.epochs" in res.stdout


WARNING_CASES = [
    ("alpha-not-2x", _set(f"{CFG}.alpha", 20), f"{CFG}.alpha", "20 is not 2 x rank (24)"),
    ("unknown-root", _set("colour", "blue"), "colour", "unknown key (kept as is)"),
    ("unknown-nested", _set(f"{CFG}.lr", 0.1), f"{CFG}.lr", "unknown key"),
    ("feedforward-on-dora", _set(f"{CFG}.feedforward_modules", ["down_proj"]), f"{CFG}.feedforward_modules", "only ia3 uses it"),
    ("kind-band", _set("capabilities", ["kind:task", "task:sql"]), "constraints.load_order", "outside the task band 8-10"),
    ("adapter-missing", _set("base_models.0.adapters", [{"type": "dora", "path": "weights/x"}]), "base_models[0].adapters[0].path",
     "weights/x not found yet (run `expert-cli train`"),
    ("dataset-missing", lambda m: None, "training.dataset.path", "does not exist yet (run `expert-cli dataset prepare`)"),
]


@pytest.mark.parametrize("case_id, edit, path, text", WARNING_CASES, ids=[c[0] for c in WARNING_CASES])
def test_warnings_exit_0_and_strict_makes_them_errors(tmp_path, cli, case_id, edit, path, text):
    data = valid_manifest()
    edit(data)
    manifest = write_manifest(tmp_path, data)
    res = cli("validate", "--manifest", manifest)
    assert res.exit_code == 0, res
    assert any(line.startswith(f"warning {path}: ") and text in line for line in res.stdout.splitlines()), res.stdout
    assert "is valid" in res.stdout
    strict = cli("validate", "--manifest", manifest, "--strict")
    assert strict.exit_code == 2
    assert any(line.startswith(f"error   {path}: ") and text in line for line in strict.stdout.splitlines()), strict.stdout


def test_unknown_keys_are_listed_and_comments_are_not(tmp_path, cli):
    data = {"_comment": "mine", **valid_manifest(), "colour": "blue"}
    data["training"]["_note"] = "fine"
    data["routing"]["prio"] = 1
    data["quality_metrics"] = {"sql_valid": "16/18", "benchmark_score": "8.5"}
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 0, res
    assert "unknown keys (kept as is; typos?): colour, routing.prio" in res.stdout
    assert "_comment" not in res.stdout and "_note" not in res.stdout and "sql_valid" not in res.stdout


def test_datasets_present_means_no_warnings(tmp_path, cli):
    manifest = write_manifest(tmp_path, valid_manifest())
    for split in ("train", "validation", "test"):
        (tmp_path / "datasets").mkdir(exist_ok=True)
        (tmp_path / "datasets" / f"{split}.jsonl").write_text("")
    res = cli("validate", "--manifest", manifest, "--strict")
    assert res.exit_code == 0, res
    assert "0 warning(s)" in res.stdout


def test_files_are_resolved_relative_to_the_manifest(tmp_path, cli):
    expert = tmp_path / "expert"
    expert.mkdir()
    data = valid_manifest()
    data["training"]["decoding"].update(use_grammar=True, grammar_file="grammar.gbnf")
    (expert / "grammar.gbnf").write_text('root ::= "x"\n')
    write_manifest(expert, data)
    res = cli("validate", "--manifest", "expert/manifest.json", cwd=tmp_path)
    assert res.exit_code == 0, res


def test_not_json_gives_line_and_column(tmp_path, cli):
    path = tmp_path / "manifest.json"
    path.write_text('{\n  "name": "expert-sql",\n  "version": 0.1.0\n}\n')
    res = cli("validate", "--manifest", path)
    assert res.exit_code == 2
    assert f"{path}:3:17: not valid JSON" in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2  # the error line (+ a hint line)
    payload = json.loads(cli("validate", "--manifest", path, "--json").stdout)
    assert payload["valid"] is False and ":3:17: not valid JSON" in payload["errors"][0]["message"]


@pytest.mark.parametrize("content", ["[]", '"manifest"', "42", "null"])
def test_non_object_json_is_an_error(tmp_path, cli, content):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    res = cli("validate", "--manifest", path)
    assert res.exit_code == 2
    assert "<root>: the manifest must be a JSON object" in res.stdout


def test_missing_manifest_is_one_line_and_exit_2(tmp_path, cli):
    res = cli("validate", "--manifest", tmp_path / "nope.json")
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0] == f"error: {tmp_path / 'nope.json'}: file not found"
    assert "Traceback" not in res.output


def test_manifest_that_is_a_directory(tmp_path, cli):
    res = cli("validate", "--manifest", tmp_path)
    assert res.exit_code == 2
    assert "cannot read" in res.stderr


def test_rich_markup_in_values_is_printed_literally(tmp_path, cli):
    data = valid_manifest()
    data["name"] = "[bold]x[/]"
    data["[red]"] = 1
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    assert "'[bold]x[/]' is not allowed" in res.stdout and "[red]: unknown key" in res.stdout


def test_legacy_manifest_validates_as_migrated(tmp_path, cli):
    (tmp_path / "weights" / "adapter").mkdir(parents=True)
    res = cli("validate", "--manifest", write_manifest(tmp_path, legacy_manifest()))
    assert res.exit_code == 0, res
    assert "schema 1.0, migrated to 2.0 in memory" in res.stdout
    payload = json.loads(cli("validate", "--manifest", tmp_path / "manifest.json", "--json").stdout)
    assert payload["migrated_from"] == "1.0"


def test_legacy_errors_point_at_legacy_keys(tmp_path, cli):
    res = cli("validate", "--manifest", write_manifest(tmp_path, legacy_manifest()))
    assert res.exit_code == 0
    assert "warning adapters[0].path: weights/adapter not found yet" in res.stdout
    data = legacy_manifest()
    data["base_model"]["quantization"] = "int3"
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    assert "error   base_model.quantization: \"int3\" is invalid" in res.stdout


def test_both_schemas_at_once_is_an_error(tmp_path, cli):
    data = valid_manifest()
    data["base_model"] = "smollm2-135m-instruct"
    res = cli("validate", "--manifest", write_manifest(tmp_path, data))
    assert res.exit_code == 2
    assert "both `base_model` (schema 1.0) and `base_models` (2.0) are present" in res.stdout


def test_version_flag(cli):
    res = cli("--version")
    assert res.exit_code == 0
    assert res.stdout.strip() == f"expert-cli {__version__}"


def test_expert_debug_raises_instead_of_one_line(tmp_path, cli, monkeypatch):
    from expertkit.errors import ManifestError

    monkeypatch.setenv("EXPERT_DEBUG", "1")
    with pytest.raises(ManifestError, match="file not found"):
        cli("validate", "--manifest", tmp_path / "nope.json")


def _console_script() -> str:
    script = Path(sys.executable).parent / "expert-cli"
    return str(script) if script.exists() else "expert-cli"


@pytest.mark.parametrize("debug", ["", "1"])
def test_real_console_script_traceback_only_with_expert_debug(tmp_path, debug):
    env = {**os.environ, "EXPERT_DEBUG": debug}
    proc = subprocess.run(
        [_console_script(), "validate", "--manifest", str(tmp_path / "nope.json")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode != 0
    if debug:
        assert "Traceback" in proc.stderr and "ManifestError" in proc.stderr
    else:
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("error: ") and "file not found" in proc.stderr


def test_duplicate_keys_warn_with_their_path(tmp_path, cli):
    text = json.dumps(valid_manifest(), indent=2)
    text = text.replace('"rank": 12,', '"rank": 8,\n      "rank": 12,', 1)
    path = tmp_path / "manifest.json"
    path.write_text(text)
    res = cli("validate", "--manifest", path)
    assert res.exit_code == 0, res
    assert "warning training.config.rank: duplicate key: only the last value is used" in res.stdout
    assert cli("validate", "--manifest", path, "--strict").exit_code == 2
