"""`prepare` end to end on small expert directories (library level)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expertkit.data.chat_format import format_chat, split_reasoning
from expertkit.data.pipeline import PrepareHooks, prepare
from expertkit.errors import DatasetError
from tests.data.builders import GUIDE_LINE, read_jsonl, sql_examples

GUIDE_RAW = {"instruction": "Find all users", "input": "Dialect: sql\nSchema:\nusers(id, name, email)", "output": "SELECT * FROM users;"}


def all_rows(manifest):
    root = manifest.parent / "datasets"
    return [row for name in ("train", "validation", "test") for row in read_jsonl(root / f"{name}.jsonl")]


def test_guide_example_line_byte_exact(make_expert):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW]})
    prepare(manifest)
    line = (manifest.parent / "datasets" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    # the guide's line is {"text": ...}; ours keeps the structured turns after it
    assert line.startswith(GUIDE_LINE[:-1] + ", ")
    assert json.loads(line)["text"] == json.loads(GUIDE_LINE)["text"]


def test_guide_line_with_a_system_prompt_hook(make_expert):
    raw = {"dialect": "sql", "schema": "users(id, name, email)", "instruction": "Find all users", "output": "SELECT * FROM users;"}
    manifest = make_expert({"a.jsonl": [raw]})
    hooks = PrepareHooks(system_prompt=lambda ex: f"Dialect: {ex['dialect']}\nSchema:\n{ex['schema']}")
    result = prepare(manifest, hooks=hooks)
    assert result.hooks == ["system_prompt"]
    assert json.loads(GUIDE_LINE)["text"] == all_rows(manifest)[0]["text"]


def test_rows_text_equals_formatted_messages(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(50, reasoning_every=2)})
    prepare(manifest)
    for row in all_rows(manifest):
        assert list(row) == ["text", "messages"]
        assert row["text"] == format_chat(row["messages"])


def test_split_sizes_and_determinism(make_expert):
    rows = sql_examples(1000)
    m1, m2, m3 = make_expert({"a.jsonl": rows}), make_expert({"a.jsonl": rows}), make_expert({"a.jsonl": rows})
    r1, r2 = prepare(m1), prepare(m2)
    assert r1.splits == r2.splits == {"train": 800, "validation": 100, "test": 100}
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl"):
        assert (m1.parent / "datasets" / name).read_bytes() == (m2.parent / "datasets" / name).read_bytes()
    prepare(m3, seed=7)
    assert (m3.parent / "datasets/train.jsonl").read_bytes() != (m1.parent / "datasets/train.jsonl").read_bytes()
    texts = [r["text"] for r in all_rows(m1)]
    assert len(set(texts)) == 1000


def test_custom_split_and_seed_from_manifest(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(20)}, {"split": {"train": 0.5, "validation": 0.5, "test": 0.0}, "seed": 3})
    result = prepare(manifest)
    assert result.splits == {"train": 10, "validation": 10, "test": 0} and result.seed == 3
    assert (manifest.parent / "datasets/test.jsonl").read_text() == ""


def test_reasoning_ratio_default_and_never_invented(make_expert):
    rows = sql_examples(1000, reasoning_every=2)  # 500 have reasoning text
    manifest = make_expert({"a.jsonl": rows})
    result = prepare(manifest)
    mix = result.reasoning
    assert mix.target_ratio == 0.75 and mix.with_reasoning == 500 and mix.achieved_ratio == 0.5
    assert mix.direct_no_reasoning_available == 500
    by_user = {r["instruction"]: r.get("reasoning") for r in rows}
    for row in all_rows(manifest):
        reasoning, answer = split_reasoning(row["messages"][-1]["content"])
        expected = by_user[row["messages"][1]["content"]]
        assert reasoning == expected  # think text is exactly the given reasoning, or absent
    assert any("below the target" in w for w in result.warnings)


def test_reasoning_ratio_is_hit_when_text_is_available(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(400, reasoning_every=1)}, {"reasoning_ratio": 0.25})
    result = prepare(manifest)
    assert result.reasoning.with_reasoning == 100
    thinks = sum(split_reasoning(r["messages"][-1]["content"])[0] is not None for r in all_rows(manifest))
    assert thinks == 100


def test_no_reasoning_for_non_chatml_templates(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(10, reasoning_every=1)}, template="llama2")
    assert prepare(manifest).reasoning.with_reasoning == 0


def test_reasoning_hook(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(8)}, {"reasoning_ratio": 1.0})
    hooks = PrepareHooks(reasoning=lambda ex: "Use a WHERE clause." if "1" in ex["instruction"] else None)
    result = prepare(manifest, hooks=hooks)
    assert result.reasoning.with_reasoning == 1
    think = [r for r in all_rows(manifest) if "<think>" in r["text"]]
    assert think[0]["messages"][-1]["content"].startswith("<think>\nUse a WHERE clause.\n</think>\n\n")


def test_dedup_default_key_and_duplicates_file(make_expert):
    rows = sql_examples(5)
    manifest = make_expert({"a.jsonl": rows + [rows[1]], "b.jsonl": [rows[1], {**rows[2], "system": "other"}]})
    result = prepare(manifest)
    assert (result.loaded, result.written, result.duplicates) == (8, 5, 3)
    dups = read_jsonl(manifest.parent / "datasets/processed/duplicates.jsonl")
    assert [(d["file"], d["line"], d["duplicate_of"]) for d in dups] == [
        ("datasets/raw/a.jsonl", 6, "datasets/raw/a.jsonl:2"),
        ("datasets/raw/b.jsonl", 1, "datasets/raw/a.jsonl:2"),
        ("datasets/raw/b.jsonl", 2, "datasets/raw/a.jsonl:3"),
    ]
    assert dups[0]["record"] == rows[1]


def test_dedup_explicit_key(make_expert):
    rows = [{"instruction": "q", "output": f"a{i}"} for i in range(3)]
    manifest = make_expert({"a.jsonl": rows}, {"dedup_key": ["instruction"]})
    result = prepare(manifest)
    assert result.written == 1 and result.duplicates == 2


def test_malformed_line_stops_with_file_line(make_expert):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW, '{"instruction": "x", "output": }', {"instruction": "y"}]})
    with pytest.raises(DatasetError) as err:
        prepare(manifest)
    assert err.value.message == "datasets/raw/a.jsonl:2: Expecting value (column 32)"
    assert "2 invalid record(s)" in err.value.hint and "--skip-invalid" in err.value.hint
    assert not (manifest.parent / "datasets/train.jsonl").exists()


def test_skip_invalid_writes_every_rejection_with_its_reason(make_expert):
    rows = [
        GUIDE_RAW,
        '{"instruction": "x", "output": }',
        {"instruction": "y"},
        "[1, 2]",
        {"instruction": "short", "output": "abc"},
        {"instruction": "not json", "output": "SELECT 1"},
        GUIDE_RAW,
    ]
    manifest = make_expert({"a.jsonl": rows}, {"validation": {"min_length": 5}})
    result = prepare(manifest, skip_invalid=True)
    assert (result.loaded, result.written, result.invalid, result.duplicates) == (7, 2, 4, 1)
    assert result.loaded == result.written + result.invalid + result.duplicates
    assert result.equation == "loaded 7 = written 2 + invalid 4 + duplicates 1"
    rejected = read_jsonl(manifest.parent / "datasets/processed/rejected.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (2, "Expecting value (column 32)"),
        (3, "missing field 'output' (see training.dataset.field_mapping)"),
        (4, "expected a JSON object, found an array"),
        (5, "output is 3 characters, shorter than validation.min_length 5"),
    ]
    assert rejected[0]["raw"] == '{"instruction": "x", "output": }' and rejected[1]["record"] == {"instruction": "y"}


def test_counts_written_into_manifest_preserving_the_rest(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(30) + ["oops"]})
    prepare(manifest, skip_invalid=True)
    raw = json.loads(manifest.read_text())
    pre = raw["training"]["dataset"]["preprocessing"]
    assert {k: pre[k] for k in ("loaded", "written", "invalid", "duplicates")} == {"loaded": 31, "written": 30, "invalid": 1, "duplicates": 0}
    assert pre["splits"] == {"train": 24, "validation": 3, "test": 3} and pre["think_ratio"] == 0.0
    assert raw["_comment"] == "kept by the rewriter"
    assert list(raw)[:4] == ["name", "version", "schema_version", "description"]


@pytest.mark.parametrize(
    ("dataset", "row", "reason"),
    [
        ({"validation": {"max_length": 5}}, {"instruction": "q", "output": "too long"}, "longer than validation.max_length 5"),
        ({"validation": {"require_json_output": True}}, {"instruction": "q", "output": "{bad"}, "output is not valid JSON"),
        ({"validation": {"required_fields": ["instruction", "output", "id"]}}, {"instruction": "q", "output": "a"}, "missing required field 'id'"),
    ],
)
def test_validation_rules(make_expert, dataset, row, reason):
    manifest = make_expert({"a.jsonl": [GUIDE_RAW, row]}, dataset)
    with pytest.raises(DatasetError, match=reason):
        prepare(manifest)


def test_extra_validation_hook_and_hook_errors(make_expert):
    manifest = make_expert({"a.jsonl": sql_examples(4)})
    hooks = PrepareHooks(extra_validation=lambda ex: "no 3s" if "3" in ex["output"] else None)
    result = prepare(manifest, hooks=hooks, skip_invalid=True)
    assert result.invalid == 1
    assert read_jsonl(manifest.parent / "datasets/processed/rejected.jsonl")[0]["reason"] == "no 3s"
    boom = PrepareHooks(system_prompt=lambda ex: ex["missing"])
    with pytest.raises(DatasetError, match=r"datasets/raw/a.jsonl:1: the system_prompt hook raised KeyError"):
        prepare(manifest, hooks=boom)


def test_csv_json_parquet_messages_and_text_inputs(make_expert):
    text = json.loads(GUIDE_LINE)["text"]
    pq_path_rows = [{"question": "2+2?", "answer": "4"}]
    manifest = make_expert({
        "a.csv": 'instruction,input,output\nFind all users,"Dialect: sql\nSchema:\nusers(id, name, email)",SELECT * FROM users;\n',
        "b.json": json.dumps([{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}], indent=1),
        "c.jsonl": [{"text": text}],
    }, {"field_mapping": {}})
    pq.write_table(pa.Table.from_pylist(pq_path_rows), manifest.parent / "datasets/raw/d.parquet")
    result = prepare(manifest)
    assert result.files == {"datasets/raw/a.csv": 1, "datasets/raw/b.json": 1, "datasets/raw/c.jsonl": 1, "datasets/raw/d.parquet": 1}
    # the csv row and the ready text give the same conversation, but the default dedup keys differ
    # by shape (instruction+input+output vs. every turn), so both are kept
    assert result.shapes == {"instruction": 2, "messages": 1, "text": 1}
    texts = {r["text"] for r in all_rows(manifest)}
    assert text in texts
    assert "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" in texts


def test_no_raw_files_and_ignored_files(make_expert):
    with pytest.raises(DatasetError, match="no .jsonl, .json, .csv or .parquet files"):
        prepare(make_expert({"notes.txt": "hello"}))
    manifest = make_expert({"a.jsonl": [GUIDE_RAW], "notes.txt": "hello"})
    assert any("notes.txt: ignored" in w for w in prepare(manifest).warnings)


def test_all_invalid_with_skip_invalid_still_writes_rejections(make_expert):
    manifest = make_expert({"a.jsonl": ["nope", "nope"]})
    with pytest.raises(DatasetError, match="no valid examples among 2 loaded"):
        prepare(manifest, skip_invalid=True)
    assert len(read_jsonl(manifest.parent / "datasets/processed/rejected.jsonl")) == 2
