"""`expert-cli dataset prepare|validate|stats` through the real typer app."""

from __future__ import annotations

import json

from tests.data.builders import GUIDE_LINE, sql_examples, write_jsonl

GUIDE_RAW = {"instruction": "Find all users", "input": "Dialect: sql\nSchema:\nusers(id, name, email)", "output": "SELECT * FROM users;"}


def test_prepare_prints_the_equation(cli, make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(20, reasoning_every=2) + [sql_examples(1)[0]]})
    res = cli("dataset", "prepare", "--manifest", manifest)
    assert res.exit_code == 0, res
    assert "loaded 21 = written 20 + invalid 0 + duplicates 1" in res.stdout
    assert "warning: only 20 examples; the guide asks for at least 1,000" in res.stderr  # warnings: stderr (i13)


def test_prepare_json_and_seed(cli, make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(10)})
    res = cli("dataset", "prepare", "--manifest", manifest, "--seed", "5", "--json")
    assert res.exit_code == 0, res
    data = json.loads(res.stdout)
    assert data["seed"] == 5 and data["loaded"] == 10 and data["splits"] == {"train": 8, "validation": 1, "test": 1}


def test_prepare_malformed_line_exit_2_one_line(cli, make_expert):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW, "{not json"]})
    res = cli("dataset", "prepare", "--manifest", manifest)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "error: datasets/raw/a.jsonl:2: Expecting property name enclosed in double quotes (column 2)"
    assert len(lines) == 2 and lines[1].strip().startswith("hint:") and "Traceback" not in res.output


def test_prepare_skip_invalid(cli, make_expert):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW, "{not json", {"instruction": "q"}]})
    res = cli("dataset", "prepare", "--manifest", manifest, "--skip-invalid")
    assert res.exit_code == 0, res
    assert "loaded 3 = written 1 + invalid 2 + duplicates 0" in res.stdout
    rejected = (manifest.parent / "datasets/processed/rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 2


def test_prepare_bad_manifest_mapping_exit_2(cli, make_expert):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW]}, {"field_mapping": {"prompt": "x"}})
    res = cli("dataset", "prepare", "--manifest", manifest)
    assert res.exit_code == 2 and "field_mapping.prompt: unknown role" in res.stderr


def test_validate_good_file(cli, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(GUIDE_LINE + "\n", encoding="utf-8")
    res = cli("dataset", "validate", path)
    assert res.exit_code == 0, res
    assert "1 line(s), all valid" in res.stdout


def test_validate_broken_file_lists_every_problem(cli, tmp_path):
    text = json.loads(GUIDE_LINE)["text"]
    rows = [
        GUIDE_LINE,
        "{oops",
        {"nottext": 1},
        {"text": text.replace("<|im_start|>assistant", "<|im_start|>robot")},
        {"text": text.rsplit("<|im_start|>assistant", 1)[0]},
        {"text": text.replace("SELECT * FROM users;", "")},
        {"text": text.replace("SELECT", "<think>\nhm\nSELECT")},
        {"text": text, "messages": [{"role": "user", "content": "other"}]},
        {"text": text.replace("<|im_end|>\n<|im_start|>user", "\n<|im_start|>user")},
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    res = cli("dataset", "validate", path, "--json")
    assert res.exit_code == 2
    report = json.loads(res.stdout)
    assert report["lines"] == 9 and report["valid_lines"] == 1 and report["invalid_lines"] == 8
    messages = {p["line"]: p["message"] for p in report["problems"]}
    assert messages[2].startswith("Expecting property name")
    assert messages[3] == "missing field 'text'"
    assert "unknown role 'robot'" in messages[4]
    assert "the last turn must be the assistant's" in messages[5]
    assert messages[6] == "the assistant's answer is empty"
    assert "unbalanced think tags" in messages[7]
    assert "disagree" in messages[8]
    assert "unbalanced chat tags" in messages[9]
    human = cli("dataset", "validate", path)
    assert human.exit_code == 2 and f"{path}:4:" in human.stdout and "8 invalid of 9" in human.stdout


def test_validate_with_manifest_counts_truncation(cli, make_expert, tiny_qwen3_dir):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW]}, base_model=str(tiny_qwen3_dir))
    raw = json.loads(manifest.read_text())
    raw["training"]["config"]["max_seq_length"] = 30
    manifest.write_text(json.dumps(raw), encoding="utf-8")
    path = write_jsonl(manifest.parent / "t.jsonl", [GUIDE_LINE, {"text": "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n"}])
    res = cli("dataset", "validate", path, "--manifest", manifest, "--tokens", "--json")
    assert res.exit_code == 0, res
    report = json.loads(res.stdout)
    assert report["max_seq_length"] == 30 and report["truncated"] == 1 and report["truncated_lines"] == [1]
    assert report["tokens"]["max"] > 30 and report["tokenizer"] == str(tiny_qwen3_dir)
    human = cli("dataset", "validate", path, "--manifest", manifest, "--tokens")
    assert "would be truncated" in human.stderr  # a warning: stderr (i13)


def test_validate_unknown_base_model_is_exit_3(cli, make_expert, tmp_path):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW]}, base_model=str(tmp_path / "nowhere"))
    path = write_jsonl(tmp_path / "t.jsonl", [GUIDE_LINE])
    res = cli("dataset", "validate", path, "--manifest", manifest, "--tokens")
    assert res.exit_code == 3 and "not found" in res.stderr
    assert cli("dataset", "validate", path, "--manifest", manifest).exit_code == 0  # format checks need no model


def test_validate_with_manifest_loads_no_model_unless_tokens_are_asked_for(cli, make_expert, tiny_qwen3_dir, monkeypatch):
    import expertkit.models.loading as loading

    manifest = make_expert({"a.jsonl": [GUIDE_RAW]}, base_model=str(tiny_qwen3_dir))
    path = write_jsonl(manifest.parent / "t.jsonl", [GUIDE_LINE] * 32)
    monkeypatch.setattr(loading, "load_tokenizer", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded a tokenizer")))
    res = cli("dataset", "validate", path, "--manifest", manifest, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["tokens"] is None, res
    assert cli("dataset", "validate", path, "--tokens").exit_code == 2


def test_stats_on_prepared_file(cli, make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(40, reasoning_every=1)}, {"reasoning_ratio": 0.5})
    assert cli("dataset", "prepare", "--manifest", manifest).exit_code == 0
    train = manifest.parent / "datasets/train.jsonl"
    res = cli("dataset", "stats", train, "--json")
    assert res.exit_code == 0, res
    stats = json.loads(res.stdout)
    assert stats["examples"] == 32 and stats["length_unit"] == "chars" and stats["duplicates"] == 0
    assert 0 < stats["think_ratio"] < 1 and stats["field_coverage"] == {"messages": 1.0, "text": 1.0}
    assert stats["lengths"]["p50"] <= stats["lengths"]["p95"] <= stats["lengths"]["max"]
    assert any("at least 1,000" in w for w in stats["warnings"])
    human = cli("dataset", "stats", train)
    assert "with <think>" in human.stdout and "field coverage" in human.stdout and "at least 1,000" in human.stderr


def test_stats_tokens_with_manifest(cli, make_expert, tiny_llama_dir):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW]}, base_model=str(tiny_llama_dir))
    path = write_jsonl(manifest.parent / "t.jsonl", [GUIDE_LINE, GUIDE_LINE])
    res = cli("dataset", "stats", path, "--manifest", manifest, "--json")
    assert res.exit_code == 0, res
    stats = json.loads(res.stdout)
    assert stats["length_unit"] == "tokens" and stats["duplicates"] == 1 and stats["lengths"]["max"] < len(json.loads(GUIDE_LINE)["text"])


def test_stats_on_broken_and_raw_files(cli, tmp_path):
    path = write_jsonl(tmp_path / "raw.jsonl", [GUIDE_RAW, "{bad", {"instruction": "q", "output": "a", "reasoning": "r"}])
    res = cli("dataset", "stats", path, "--json")
    assert res.exit_code == 0, res
    stats = json.loads(res.stdout)
    assert stats["examples"] == 2 and stats["malformed"] == 1 and stats["malformed_lines"] == [2]
    assert stats["field_coverage"]["reasoning"] == 0.5 and stats["length_of"] == "record"
    assert cli("dataset", "stats", tmp_path / "missing.jsonl").exit_code == 2
