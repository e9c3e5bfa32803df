"""The fast backend: the lean static-KV-cache `Decoder` (runtime/decoder.py) behind `run_batch`.

The engine keeps one `Decoder` beside its pool when built with ``backend="decoder"``; every
expert attached to the pool is attached to the decoder too (same PEFT directory), and detached
with it. A batch goes to the decoder when it can honour every setting, otherwise to the HF
backend, which stays the reference: the decoder samples greedily or with temperature/top-p, and
has no ``min_new_tokens``, ``top_k``/``min_p`` or stop *strings* (those batches fall back), and
chains mixing IA3 with LoRA/DoRA fall back too (`chain_usable`).
Grammar constraints, cancellation and streaming work the same through its ``logits_processor``
and ``on_token`` hooks.
"""

from __future__ import annotations

from typing import Any


def settings_usable(s: Any, min_new_tokens: int | None, has_grammar: bool) -> bool:
    """Can the decoder honour these settings? (see the module doc)"""
    return min_new_tokens is None and not s.top_k and not s.min_p and not (s.stop_sequences and not has_grammar)


def chain_usable(pool: Any, key: Any) -> bool:
    """The decoder composes IA3 after a LoRA/DoRA as scaling the adapted output (order-dependent);
    the runtime's documented rule (compose.py) scales the base layer only, so such chains run on HF."""
    kinds = {pool.get(name).kind for name, _ in key}
    return not ("ia3" in kinds and kinds & {"lora", "dora"})


def usable(engine: Any, batch: Any) -> bool:
    if not settings_usable(batch.settings, batch.min_new_tokens, batch.grammars is not None):
        return False
    return all(chain_usable(engine.pool, key) and all(n in engine.decoder.experts for n, _ in key) for key in batch.keys)


def run_decoder(engine: Any, decoder: Any, batch: Any) -> list[tuple[list[int], bool | None, bool]]:
    s = batch.settings
    stop_ids = engine.stop_token_ids()
    grammar = None
    if batch.grammars is not None:
        from expertkit.runtime.constrained import GrammarAfterThink

        grammar = GrammarAfterThink(batch.grammars, engine.think_vocab(), enable_thinking=s.enable_thinking,
                                    stop_token_ids=stop_ids, reasoning=batch.reasoning)
    cancelled = [False] * len(batch.prompts)

    def on_token(row: int, token: int) -> bool:
        keep = batch.on_token(row, token) if batch.on_token is not None else True
        if not keep or (batch.cancel is not None and batch.cancel.is_set()):
            cancelled[row] = True
            return False
        return True

    out = decoder.run(batch.prompts, batch.keys, max_new_tokens=s.max_new_tokens, stop_ids=stop_ids,
                      temperature=s.temperature, top_p=s.top_p, logits_processor=grammar, on_token=on_token)
    results = []
    for i, ids in enumerate(out):
        if not cancelled[i] and len(ids) < s.max_new_tokens:
            ids = [*ids, stop_ids[0]]  # it ended on a stop token, which the decoder leaves out
        results.append((ids, grammar.grammar_complete(i) if grammar else None, cancelled[i]))
    return results
