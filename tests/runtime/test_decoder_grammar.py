"""The engine's grammar processor (GrammarAfterThink) works through the decoder's logits_processor hook:
same answers as the HF-generate engine with the same adapter, for every thinking switch."""

from __future__ import annotations

import pytest

from expertkit.runtime.constrained import GrammarAfterThink
from expertkit.runtime.decoder import Decoder
from expertkit.runtime.prompts import Request, build_prompt
from tests.runtime.decoder_models import load

INPUTS = ["list the users", "x", "how many orders were placed in total last year?"]


@pytest.mark.parametrize("enable_thinking", [False, None])
def test_grammar_through_the_hook_equals_the_engine(tiny_engine, tiny_llama_dir, tiny_adapter, enable_thinking):
    engine = tiny_engine
    reference = engine.generate(INPUTS, use_grammar=True, enable_thinking=enable_thinking, max_new_tokens=40, batch_size=3)
    settings = engine.settings.override(use_grammar=True, enable_thinking=enable_thinking)
    conversations = [Request(input=text).to_messages(engine.system_prompt) for text in INPUTS]
    prompts = [engine.tokenizer(build_prompt(m, enable_thinking), add_special_tokens=False)["input_ids"] for m in conversations]
    stops = engine.stop_token_ids()
    grammar = GrammarAfterThink([engine.compiled_grammar(settings, m) for m in conversations], engine.think_vocab(),
                                enable_thinking=enable_thinking, stop_token_ids=stops)
    decoder = Decoder(load(tiny_llama_dir), pad_id=engine.tokenizer.pad_token_id)
    decoder.attach("expert", tiny_adapter)
    out = decoder.run(prompts, [(("expert", 1.0),)] * 3, max_new_tokens=40, stop_ids=stops, logits_processor=grammar)
    assert [engine.tokenizer.decode(ids) for ids in out] == [g.text for g in reference]
    assert [grammar.grammar_complete(i) for i in range(3)] == [g.grammar_complete for g in reference]
    assert enable_thinking is None or any(g.grammar_complete for g in reference)  # thinking may run out of tokens
