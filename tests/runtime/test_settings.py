"""Decoding settings and prompt building: the training template, the thinking switch."""

from __future__ import annotations

import pytest

from expertkit.data.chat_format import format_chat, generation_prompt
from expertkit.errors import UsageError
from expertkit.runtime.prompts import EMPTY_THINK, Request, as_request, build_prompt, split_output
from expertkit.runtime.settings import DecodingSettings


def test_greedy_when_temperature_zero():
    kwargs = DecodingSettings().generate_kwargs()
    assert kwargs["do_sample"] is False and kwargs["temperature"] is None


def test_sampling_settings_pass_through_and_zero_means_off():
    s = DecodingSettings(temperature=0.7, top_p=0.9, top_k=0, min_p=0.05)
    kw = s.generate_kwargs()
    assert kw == {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": None, "min_p": 0.05}


def test_override_copies_and_checks():
    base = DecodingSettings(max_new_tokens=10)
    new = base.override(max_new_tokens=20, stop_sequences=["\n"], temperature=None)
    assert (base.max_new_tokens, new.max_new_tokens, new.stop_sequences, new.temperature) == (10, 20, ("\n",), 0.0)
    with pytest.raises(UsageError, match="unknown decoding setting"):
        base.override(temprature=1)
    with pytest.raises(UsageError, match="out of range"):
        base.override(top_p=0)


def test_prompt_is_the_training_template():
    msgs = Request(input="q", system="schema").to_messages()
    assert msgs == [{"role": "system", "content": "schema"}, {"role": "user", "content": "q"}]
    # unset (as in training): the bare assistant header, exactly what training renders before the answer
    prompt = build_prompt(msgs, None)
    assert prompt == generation_prompt(msgs) == format_chat(msgs) + "<|im_start|>assistant\n"
    assert build_prompt(msgs, True) == prompt + "<think>\n"  # thinking on: the think block is opened
    assert build_prompt(msgs, False) == prompt + EMPTY_THINK


def test_default_system_prompt_only_when_case_has_none():
    assert Request(input="q").to_messages("sys")[0] == {"role": "system", "content": "sys"}
    assert Request(input="q", system="own").to_messages("sys")[0]["content"] == "own"
    assert as_request("hi").to_messages() == [{"role": "user", "content": "hi"}]


def test_split_output():
    assert split_output("<think>\nplan it\n</think>\n\nSELECT 1;") == ("plan it", "SELECT 1;")
    assert split_output("SELECT 1;\n") == (None, "SELECT 1;")
    assert split_output("<think>\nnever closed") == ("never closed", "")
    assert split_output(EMPTY_THINK + "answer") == (None, "answer")
