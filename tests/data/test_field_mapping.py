"""Raw record -> conversation: instruction/input/output, question/answer, messages, text."""

from __future__ import annotations

import pytest

from expertkit.data.chat_format import format_chat
from expertkit.data.field_mapping import FieldMapping, RecordError, to_conversation
from expertkit.errors import DatasetError

GUIDE_MAPPING = {"instruction": "instruction", "input": "input", "response": "output"}
GUIDE_TEXT = (
    "<|im_start|>system\nDialect: sql\nSchema:\nusers(id, name, email)<|im_end|>\n"
    "<|im_start|>user\nFind all users<|im_end|>\n<|im_start|>assistant\nSELECT * FROM users;<|im_end|>\n"
)


def conv(data, mapping=None, system=None, **kw):
    return to_conversation(data, FieldMapping.from_manifest(mapping if mapping is not None else GUIDE_MAPPING, **kw), system)


def test_input_goes_into_the_system_turn_as_in_the_guide():
    c = conv({"instruction": "Find all users", "input": "Dialect: sql\nSchema:\nusers(id, name, email)", "output": "SELECT * FROM users;"})
    assert format_chat(c.messages) == GUIDE_TEXT
    assert c.shape == "instruction" and c.reasoning is None


def test_system_prompt_then_input_on_its_own_line():
    c = conv({"instruction": "Find all users", "input": "Schema:\nusers(id, name, email)", "output": "SELECT * FROM users;"}, system="Dialect: sql")
    assert format_chat(c.messages) == GUIDE_TEXT


def test_record_system_field_wins_over_manifest_system_prompt():
    c = conv({"system": "Dialect: sql\nSchema:\nusers(id, name, email)", "instruction": "Find all users", "output": "SELECT * FROM users;"},
             system="ignored")
    assert format_chat(c.messages) == GUIDE_TEXT


def test_input_role_user_appends_to_the_instruction():
    c = conv({"instruction": "Translate", "input": "hola", "output": "hello"}, input_role="user")
    assert c.messages == [{"role": "user", "content": "Translate\n\nhola"}, {"role": "assistant", "content": "hello"}]


def test_question_answer_defaults_and_json_outputs():
    c = conv({"question": "2+2?", "answer": 4}, mapping={})
    assert c.messages == [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    c = conv({"instruction": "obj", "output": {"a": [1, "é"]}})
    assert c.answer == '{"a": [1, "é"]}'


def test_custom_field_names():
    c = conv({"prompt": "hi", "completion": "hello"}, mapping={"instruction": "prompt", "response": "completion"})
    assert [m["content"] for m in c.messages] == ["hi", "hello"]


def test_messages_multi_turn_and_sharegpt():
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
             {"role": "assistant", "content": "<think>\nwhy\n</think>\n\nd"}]
    c = conv({"messages": turns}, system="S")
    assert c.shape == "messages" and c.reasoning == "why"
    assert c.messages[0] == {"role": "system", "content": "S"} and c.answer == "d" and len(c.messages) == 5
    c = conv({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, mapping={"messages": "conversations"})
    assert c.messages == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def test_ready_text_is_parsed():
    c = conv({"text": GUIDE_TEXT})
    assert c.shape == "text" and format_chat(c.messages) == GUIDE_TEXT


def test_reasoning_field_wins_over_an_existing_think_block():
    c = conv({"instruction": "q", "output": "<think>\nold\n</think>\n\nanswer", "reasoning": "new"})
    assert c.reasoning == "new" and c.answer == "answer"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"output": "x"}, "missing field 'instruction' or 'messages' or 'text'"),
        ({"instruction": "q"}, "missing field 'output'"),
        ({"instruction": "q", "output": "   "}, "field 'output' is empty"),
        ({"instruction": "q", "output": "<think>\nonly thinking\n</think>\n\n"}, "the assistant's answer is empty"),
        ({"messages": [{"role": "user", "content": "q"}]}, "the last turn must be the assistant's"),
        ({"messages": [{"role": "bot", "content": "q"}]}, "messages[0].role: 'bot' is not a known role"),
        ({"messages": [{"role": "assistant", "content": "a"}]}, "no user turn"),
        ({"messages": "nope"}, "expected a non-empty list of turns"),
        ({"text": "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nunterminated"}, "not in Qwen3 chat format"),
        ({"text": "<|im_start|>robot\nq<|im_end|>\n"}, "unknown role 'robot'"),
    ],
)
def test_bad_records_name_the_field(data, message):
    with pytest.raises(RecordError) as err:
        conv(data)
    assert message in str(err.value)


def test_unknown_mapping_role_is_a_dataset_error():
    with pytest.raises(DatasetError, match=r"field_mapping\.prompt: unknown role"):
        FieldMapping.from_manifest({"prompt": "p"})
