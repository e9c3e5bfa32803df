"""Raw data as reference experts ship it: field_mapping without reuse, dotted paths, legacy
ChatML converted to Qwen3 native, and clear messages for LFS pointers, empty files and other
chat formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from expertkit.data.chat_dialects import parse_legacy_chatml
from expertkit.data.chat_format import format_chat
from expertkit.data.field_mapping import FieldMapping, RecordError, to_conversation
from expertkit.data.pipeline import prepare
from expertkit.data.raw_loaders import load_file
from expertkit.errors import DatasetError

CORPUS = Path(__file__).parents[1] / "manifest" / "reference_corpus" / "expert-refsql"
LEGACY = "<|system|>\nDialect: sql\n<|end|>\n<|user|>\nList users\n<|end|>\n<|assistant|>\nSELECT * FROM users;\n<|end|>"


def conv(data, mapping, system=None):
    return to_conversation(data, FieldMapping.from_manifest(mapping), system)


def test_a_field_mapped_to_one_role_is_not_another_roles_default():
    c = conv({"input": "Count users", "output": "SELECT count(*) FROM users;"}, {"instruction": "input", "response": "output"})
    assert [m["role"] for m in c.messages] == ["user", "assistant"]
    assert c.messages[0]["content"] == "Count users"


def test_dotted_paths_read_nested_records():
    record = {"input": {"instruction": "List users", "schema": "users(id)"}, "target": {"sql": "SELECT * FROM users;"}}
    c = conv(record, {"instruction": "input.instruction", "input": "input.schema", "response": "target.sql"})
    assert c.messages == [{"role": "system", "content": "users(id)"}, {"role": "user", "content": "List users"},
                          {"role": "assistant", "content": "SELECT * FROM users;"}]


def test_legacy_chatml_is_read_and_converted():
    assert parse_legacy_chatml(LEGACY) == [{"role": "system", "content": "Dialect: sql"}, {"role": "user", "content": "List users"},
                                           {"role": "assistant", "content": "SELECT * FROM users;"}]
    c = conv({"text": LEGACY}, {"text": "text"})
    assert c.shape == "legacy_chatml"
    assert format_chat(c.messages).startswith("<|im_start|>system\nDialect: sql<|im_end|>\n<|im_start|>user\nList users")


@pytest.mark.parametrize("text, name", [
    ("<s>[INST] List users [/INST] SELECT * FROM users;</s>", "Llama 2"),
    ("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "Llama 3"),
    ("### Instruction:\nList users\n\n### Response:\nSELECT 1;", "Alpaca"),
])
def test_a_foreign_chat_format_is_named(text, name):
    with pytest.raises(RecordError, match=name):
        conv({"text": text}, {"text": "text"})


def test_lfs_pointer_and_empty_file(tmp_path):
    pointer = tmp_path / "data.jsonl"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1382\n")
    with pytest.raises(DatasetError, match="Git LFS pointer") as info:
        load_file(pointer)
    assert "git lfs pull" in info.value.hint
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="the file is empty"):
        load_file(empty)


def test_prepare_on_the_reference_corpus_converts_legacy_and_keeps_foreign_preprocessing_keys(tmp_path):
    root = tmp_path / "expert-refsql"
    shutil.copytree(CORPUS, root)
    result = prepare(root / "manifest.json")
    assert result.shapes["legacy_chatml"] == 4 and result.shapes["instruction"] == 4
    assert any("converted 4 legacy ChatML" in line for line in result.summary_lines())
    rows = [json.loads(line) for name in ("train", "validation", "test") for line in (root / f"datasets/{name}.jsonl").read_text().splitlines()]
    assert all("<|end|>" not in r["text"] and "<|im_start|>assistant" in r["text"] for r in rows)
    count = next(r for r in rows if "Count the users" in r["text"])
    assert count["text"].count("Count the users") == 1  # not also in the system turn
    pre = json.loads((root / "manifest.json").read_text(encoding="utf-8"))["training"]["dataset"]["preprocessing"]
    assert pre["by_source"] == {"hand": 0} and pre["task_distribution"] == {"select": 0} and pre["shapes"]["legacy_chatml"] == 4
