"""Grammar-constrained decoding: outputs always parse; the grammar starts after the think block."""

from __future__ import annotations

import pytest
import torch
import xgrammar as xgr

from expertkit.runtime.constrained import GRAMMAR, SEPARATOR, THINKING, GrammarAfterThink

PROMPTS = ["list the users", "x", "how many orders were placed in total last year?", "count", "schema: users(id, name)"]


def parses(engine, answer: str) -> bool:
    """Feed the answer to a fresh matcher for the model's tokenizer: accepted, then terminated by eos."""
    matcher = xgr.GrammarMatcher(engine.compiled_grammar())
    return matcher.accept_string(answer) and matcher.accept_token(engine.stop_token_ids()[0]) and matcher.is_terminated()


@pytest.mark.parametrize("batch_size", [1, 5])
def test_outputs_parse_with_thinking_off(tiny_engine, batch_size):
    gens = tiny_engine.generate(PROMPTS, use_grammar=True, enable_thinking=False, max_new_tokens=40, batch_size=batch_size)
    for g in gens:
        assert g.grammar_complete and g.finish_reason == "stop", g
        assert parses(tiny_engine, g.answer), g.answer
        assert g.reasoning is None


def test_batched_grammar_equals_unbatched(tiny_engine):
    one = tiny_engine.generate(PROMPTS, use_grammar=True, max_new_tokens=40, batch_size=1)
    many = tiny_engine.generate(PROMPTS, use_grammar=True, max_new_tokens=40, batch_size=5)
    assert [g.text for g in one] == [g.text for g in many]


def test_outputs_parse_when_sampling(tiny_engine):
    gens = tiny_engine.generate(PROMPTS * 2, use_grammar=True, enable_thinking=False, temperature=1.0, top_k=8, top_p=0.9,
                                max_new_tokens=40)
    assert all(g.grammar_complete and parses(tiny_engine, g.answer) for g in gens)


def test_thinking_on_then_grammar(tiny_engine):
    gens = tiny_engine.generate(PROMPTS, use_grammar=True, max_new_tokens=60)
    complete = [g for g in gens if g.grammar_complete]
    for g in complete:
        assert parses(tiny_engine, g.answer), g.text
    for g in gens:  # a row cut short by max_new_tokens says so instead of pretending
        assert g.grammar_complete or g.finish_reason == "length"


def test_thinking_forced_opens_the_think_block(tiny_engine):
    gens = tiny_engine.generate(PROMPTS, use_grammar=True, enable_thinking=True, max_new_tokens=60)
    for g in gens:  # the prompt ended with "<think>\n": the text has it, the answer never starts before "</think>"
        assert g.text.startswith("<think>\n"), g.text
        if g.grammar_complete:
            assert "</think>" in g.text and parses(tiny_engine, g.answer), g.text
        else:
            assert g.finish_reason == "length" and g.answer == ""


def _step(proc, ids: list[int], vocab: int) -> torch.Tensor:
    scores = torch.zeros(1, vocab)
    return proc(torch.tensor([ids]), scores)[0]


def _allowed(scores: torch.Tensor) -> set[int]:
    return set(torch.nonzero(scores > float("-inf")).flatten().tolist())


def _script(engine, tokens: list[int], think_open: bool = False):
    """Drive the processor as generate would, checking each scripted token is allowed."""
    vocab = engine.vocab_size()
    proc = GrammarAfterThink([engine.compiled_grammar()], engine.think_vocab(), enable_thinking=True if think_open else None,
                             stop_token_ids=engine.stop_token_ids())
    ids = [1]  # a one-token "prompt"
    for token in tokens:
        allowed = _allowed(_step(proc, ids, vocab))
        assert token in allowed, (engine.tokenizer.decode([token]), proc.rows[0].state)
        ids.append(token)
    return proc, _allowed(_step(proc, ids, vocab))


def test_state_machine_single_token_think(tiny_engine):
    tok = tiny_engine.tokenizer
    think, close = tok.convert_tokens_to_ids("<think>"), tok.convert_tokens_to_ids("</think>")
    free = tok.encode(" some free thought (not SQL) ", add_special_tokens=False)
    newline = tok.encode("\n", add_special_tokens=False)
    answer = tok.encode("SELECT ab FROM users;", add_special_tokens=False)
    eos = tiny_engine.stop_token_ids()[0]
    proc, after_close = _script(tiny_engine, [think, *free, close])
    assert proc.rows[0].state == SEPARATOR and after_close == set(newline)  # the training separator is forced
    proc, after_sep = _script(tiny_engine, [think, *free, close, *newline, *newline])
    assert proc.rows[0].state == GRAMMAR and answer[0] in after_sep and eos not in after_sep
    proc, last = _script(tiny_engine, [think, *free, close, *newline, *newline, *answer])
    assert last == {eos}  # grammar complete: only the stop token
    proc, _ = _script(tiny_engine, [think, *free, close, *newline, *newline, *answer, eos])
    assert proc.grammar_complete(0)


def test_state_machine_multi_token_think_opener(tiny_engine):
    """Where `<think>` is not one token (e.g. SmolLM2), the opener is assembled from pieces."""
    tok = tiny_engine.tokenizer
    pieces = [tok.convert_tokens_to_ids(ch) for ch in "<think>"]
    s_token = tok.encode("S", add_special_tokens=False)[0]
    proc, allowed = _script(tiny_engine, pieces[:1])
    assert s_token not in allowed  # after "<" only the think opener can continue (the grammar starts with S)
    proc, allowed = _script(tiny_engine, pieces)
    assert proc.rows[0].state == THINKING and len(allowed) == tiny_engine.vocab_size()


def test_state_machine_with_the_think_block_opened_by_the_prompt(tiny_engine):
    tok = tiny_engine.tokenizer
    close = tok.convert_tokens_to_ids("</think>")
    free = tok.encode("SELECT is just a word here", add_special_tokens=False)
    newline = tok.encode("\n", add_special_tokens=False)
    proc, allowed = _script(tiny_engine, [], think_open=True)
    assert proc.rows[0].state == THINKING and len(allowed) == tiny_engine.vocab_size()
    proc, after_close = _script(tiny_engine, [*free, close], think_open=True)
    assert proc.rows[0].state == SEPARATOR and after_close == set(newline)


def test_no_think_answer_starts_in_grammar(tiny_engine):
    tok = tiny_engine.tokenizer
    answer = tok.encode("SELECT a FROM orders;", add_special_tokens=False)
    proc, last = _script(tiny_engine, answer)
    assert proc.rows[0].state == GRAMMAR and last == {tiny_engine.stop_token_ids()[0]}


def test_grammar_requested_without_a_file(tiny_engine, tmp_path):
    from expertkit.errors import GrammarError

    with pytest.raises(GrammarError, match="does not exist"):
        tiny_engine.generate(["x"], use_grammar=True, grammar_file=tmp_path / "none.gbnf")
    bad = tmp_path / "bad.gbnf"
    bad.write_text('root ::= "a"\nx ::= (\n')
    with pytest.raises(GrammarError, match=r"bad.gbnf:3:1: grammar does not compile"):
        tiny_engine.generate(["x"], use_grammar=True, grammar_file=bad)


@pytest.mark.parametrize("enable_thinking", [True, None])
def test_reasoning_rule_holds_the_think_block(tiny_llama_dir, tiny_adapter, tmp_path, enable_thinking):
    """With `reasoning_rule`, a second matcher keeps the think block to that rule, then the answer grammar takes over."""
    import re

    from expertkit.manifest.model import model_slug
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_expert

    grammar = 'root ::= "SELECT " [a-z]{1,4} ";"\nreasoning ::= "\\nplan: " [a-z]{1,5} "\\n</think>"\n'
    root = make_expert(tmp_path, tiny_llama_dir, tiny_adapter, grammar=grammar, reasoning_rule="reasoning")
    with InferenceEngine.from_manifest(root / "manifest.json", root / "weights" / model_slug(str(tiny_llama_dir)) / "final") as engine:
        gens = engine.generate(PROMPTS, use_grammar=True, enable_thinking=enable_thinking, max_new_tokens=40)
    thought = [g for g in gens if g.reasoning is not None]
    assert thought if enable_thinking else True
    for g in gens:
        assert g.grammar_complete, g.text
        assert re.fullmatch(r"(<think>\nplan: [a-z]{1,5}\n</think>\n\n)?SELECT [a-z]{1,4};", g.text), g.text
        assert g.reasoning is None or re.fullmatch(r"plan: [a-z]{1,5}", g.reasoning.strip())


def test_reasoning_rule_must_exist(tiny_llama_dir, tiny_adapter, tmp_path):
    from expertkit.errors import GrammarError
    from expertkit.manifest.model import model_slug
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_expert

    root = make_expert(tmp_path, tiny_llama_dir, tiny_adapter, grammar='root ::= "x"\n', reasoning_rule="plan")
    with InferenceEngine.from_manifest(root / "manifest.json", root / "weights" / model_slug(str(tiny_llama_dir)) / "final") as engine:
        with pytest.raises(GrammarError, match="reasoning_rule: .* has no rule `plan"):
            engine.generate(["x"], use_grammar=True)


def test_answer_follows_the_think_block(tiny_llama_dir, tiny_adapter, tmp_path):
    """A slot reading `reasoning` refills the answer's grammar when the think block closes: the
    random tiny model must answer with the word its own plan chose."""
    import re

    from expertkit.manifest.model import model_slug
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_expert

    grammar = 'root ::= "SELECT " pick ";"\npick ::= [a-z]{1,5}\nreasoning ::= "\\nplan: " [a-z]{1,5} "\\n</think>"\n'
    root = make_expert(tmp_path, tiny_llama_dir, tiny_adapter, grammar=grammar, reasoning_rule="reasoning", use_grammar=True,
                       grammar_slots={"pick": {"message": "reasoning", "pattern": "plan: ([a-z]+)", "if_none": "nothing"}})
    with InferenceEngine.from_manifest(root / "manifest.json", root / "weights" / model_slug(str(tiny_llama_dir)) / "final") as engine:
        gens = engine.generate(PROMPTS, enable_thinking=True, max_new_tokens=40, batch_size=3)
        direct = engine.generate(PROMPTS[:2], enable_thinking=False, max_new_tokens=40)
    for g in gens:
        found = re.fullmatch(r"<think>\nplan: ([a-z]{1,5})\n</think>\n\nSELECT ([a-z]{1,5});", g.text)
        assert g.grammar_complete and found and found.group(1) == found.group(2), g.text
    assert all(g.grammar_complete and re.fullmatch(r"SELECT [a-z]{1,5};", g.answer) for g in direct)  # no plan: the file's rule
