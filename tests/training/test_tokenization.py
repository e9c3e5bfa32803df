"""Turn-level loss masks: decoded labels are exactly the assistant turns (+ <|im_end|>)."""

from __future__ import annotations

import json

import pytest

from expertkit.data.chat_format import format_chat, generation_prompt, with_reasoning
from expertkit.errors import DatasetError
from expertkit.training.tokenization import IGNORE, load_split, read_examples, tokenize_examples

from .conftest import example, write_jsonl


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen3_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_qwen3_dir))


def _trained_runs(input_ids, labels):
    """Contiguous runs of trained positions, as token id lists."""
    runs, current = [], []
    for tok, lab in zip(input_ids, labels, strict=True):
        if lab == IGNORE:
            if current:
                runs.append(current)
                current = []
        else:
            assert lab == tok
            current.append(tok)
    return runs + ([current] if current else [])


def test_labels_decode_to_assistant_turns_only(tmp_path, tokenizer):
    messages = [
        {"role": "system", "content": "Dialect: sql"},
        {"role": "user", "content": "Find all users"},
        {"role": "assistant", "content": with_reasoning("SELECT * FROM users;", "all rows")},
        {"role": "user", "content": "Only names"},
        {"role": "assistant", "content": "SELECT name FROM users;"},
    ]
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": format_chat(messages), "messages": messages}])
    split = load_split(path, tokenizer, 512)
    row = split.rows[0]
    assert tokenizer.decode(row["input_ids"]) == format_chat(messages)
    decoded = [tokenizer.decode(run) for run in _trained_runs(row["input_ids"], row["labels"])]
    assert decoded == [
        "<think>\nall rows\n</think>\n\nSELECT * FROM users;<|im_end|>",
        "SELECT name FROM users;<|im_end|>",
    ]
    # the masked prompt before each answer is token for token what the runtime feeds the model
    prompt_ids = tokenizer(generation_prompt(messages[:2]), add_special_tokens=False)["input_ids"]
    assert row["input_ids"][: len(prompt_ids)] == prompt_ids
    assert all(label == IGNORE for label in row["labels"][: len(prompt_ids)])


def test_text_only_lines_are_parsed_into_turns(tmp_path, tokenizer):
    ex = example(3)
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": ex["text"]}])
    row = load_split(path, tokenizer, 512).rows[0]
    assert [tokenizer.decode(r) for r in _trained_runs(row["input_ids"], row["labels"])] == ["SELECT * FROM users WHERE id = 3;<|im_end|>"]


def test_truncation_is_counted_and_empty_examples_are_rejected_with_a_reason(tmp_path, tokenizer):
    long_user = {"role": "user", "content": "word " * 200}
    rows = [example(1), example(2),
            {"messages": [long_user, {"role": "assistant", "content": "x"}]},  # answer cut off entirely
            {"messages": [{"role": "user", "content": "hi"}]}]  # no assistant turn
    split = tokenize_examples(read_examples(write_jsonl(tmp_path / "t.jsonl", rows)), tokenizer, 64, tmp_path / "t.jsonl")
    assert len(split.rows) == 2 and split.truncated == 1
    reasons = sorted((r["line"], r["reason"]) for r in split.rejected)
    assert reasons[0][0] == 3 and "max_seq_length=64" in reasons[0][1]
    assert reasons[1] == (4, "no assistant turn (nothing to train on)")
    assert all(len(r["input_ids"]) <= 64 for r in split.rows)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "dataset file not found"),
        ("", "dataset is empty"),
        ("\n\n", "dataset is empty"),
        ('{"messages": []}\n{not json}\n', "t.jsonl:2: not valid JSON"),
        ('{"foo": 1}\n', "t.jsonl:1: no `messages` list"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n", "no example has an assistant turn"),
    ],
)
def test_bad_splits_raise_one_clear_error(tmp_path, tokenizer, content, message):
    path = tmp_path / "t.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")) as info:
        load_split(path, tokenizer, 512)
    assert info.value.exit_code == 2


def test_every_example_too_long_is_an_error(tmp_path, tokenizer):
    path = write_jsonl(tmp_path / "t.jsonl", [example(i) for i in range(3)])
    with pytest.raises(DatasetError, match="every example is longer than training.config.max_seq_length=8"):
        load_split(path, tokenizer, 8)
