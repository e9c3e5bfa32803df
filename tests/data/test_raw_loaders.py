"""Raw file readers: every record knows file:line; malformed lines carry the parser's message."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expertkit.data.raw_loaders import load_file, raw_files
from expertkit.errors import DatasetError


def test_jsonl_good_bad_and_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2,}\n[1, 2]\n{"a": 3}\r\n', encoding="utf-8")
    records = load_file(path, "raw/a.jsonl")
    assert [(r.line, r.data) for r in records if r.data] == [(1, {"a": 1}), (5, {"a": 3})]
    bad = [r for r in records if r.data is None]
    assert [r.where for r in bad] == ["raw/a.jsonl:3", "raw/a.jsonl:4"]
    assert bad[0].error.startswith("Expecting property name enclosed in double quotes")
    assert bad[0].raw == '{"a": 2,}'
    assert bad[1].error == "expected a JSON object, found an array"


def test_jsonl_invalid_utf8_is_one_bad_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n{"a": 3}\n')
    records = load_file(path)
    assert [r.data for r in records] == [{"a": 1}, None, {"a": 3}]
    assert records[1].line == 2 and "invalid UTF-8" in records[1].error


def test_json_array_keeps_line_numbers(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2},\n  "x"\n]\n', encoding="utf-8")
    records = load_file(path, "a.json")
    assert [(r.line, r.data) for r in records] == [(2, {"a": 1}), (3, {"a": 2}), (4, None)]
    assert records[2].error == "expected a JSON object, found a string"


def test_json_array_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"a": 1},\n  {"a": }\n]\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"^a\.json:3: Expecting value \(column 9\)"):
        load_file(path, "a.json")


def test_json_not_an_array(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(DatasetError, match="expected a JSON array"):
        load_file(path, "a.json")


def test_csv_rows_and_wrong_field_count(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('instruction,output\nFind all users,"SELECT *\nFROM users;"\nonly one field\nCount,SELECT 1;\n', encoding="utf-8")
    records = load_file(path, "a.csv")
    assert records[0].line == 2 and records[0].data == {"instruction": "Find all users", "output": "SELECT *\nFROM users;"}
    assert records[1].where == "a.csv:4" and records[1].error == "expected 2 fields (as in the header), found 1"
    assert records[2].where == "a.csv:5" and records[2].data["output"] == "SELECT 1;"


def test_parquet_rows(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{"instruction": "q1", "output": "a1"}, {"instruction": "q2", "output": None}]), path)
    records = load_file(path, "a.parquet")
    assert [r.where for r in records] == ["a.parquet:1", "a.parquet:2"]
    assert records[1].data == {"instruction": "q2", "output": None}


def test_corrupt_parquet_is_one_clear_error(tmp_path):
    path = tmp_path / "a.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DatasetError, match=r"^a\.parquet: not a readable parquet file"):
        load_file(path, "a.parquet")


def test_raw_files_sorted_hidden_skipped_others_ignored(tmp_path):
    for name in ("b.jsonl", "a.csv", ".gitkeep", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    files, ignored = raw_files(tmp_path)
    assert [p.name for p in files] == ["a.csv", "b.jsonl"]
    assert [p.name for p in ignored] == ["notes.txt"]
    with pytest.raises(DatasetError, match="raw data directory not found"):
        raw_files(tmp_path / "missing")


def test_bom_is_accepted(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes("\ufeff".encode() + json.dumps({"a": 1}).encode() + b"\n")
    assert load_file(path)[0].data == {"a": 1}
