"""The fast backend: the lean static-KV-cache `Decoder` (runtime/decoder.py) behind `run_batch`.

The engine keeps one `Decoder` beside its pool (the default, ``backend="decoder"``); every
expert attached to the pool is attached to the decoder too (same PEFT directory), and detached
with it. HF generate + PEFT stays the reference both are tested against, and the fallback:
- a model the decoder can't run (another architecture, biases, sliding windows, not on the CPU)
  gets no decoder at all (`make_decoder`; the reason joins the model's warnings);
- a batch naming an expert the decoder doesn't hold runs on HF (`usable`).
Both apply a chain by the one rule in `runtime/compose.py` (IA3 around LoRA/DoRA included).
Sampling (temperature, top-k, top-p, min-p), ``min_new_tokens``, stop strings, grammar
constraints, cancellation and streaming all run on the decoder; stop strings through
``on_token`` (`_StopStrings`: the row stops at the token that completes one, as transformers'
stop_strings does; the engine cuts the text at it for both backends).
"""

from __future__ import annotations

from typing import Any


def make_decoder(base: Any, pad_id: int) -> Any:
    """A `Decoder` over ``base.model``, or None (with a warning) when the model is one it can't run."""
    from expertkit.errors import UsageError
    from expertkit.runtime.decoder import Decoder

    device = getattr(base.model, "device", None)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        base.warnings.append(f"the fast decoder runs on the CPU; on {device} transformers generate decodes")
        return None
    try:
        return Decoder(base.model, pad_id=pad_id)
    except UsageError as exc:
        base.warnings.append(f"{exc}; transformers generate decodes instead")
        return None


def usable(engine: Any, batch: Any) -> bool:
    return all(n in engine.decoder.experts for key in batch.keys for n, _ in key)


class _StopStrings:
    """Per row: has the generated text come to contain one of ``stops``? (decoded as the engine decodes)"""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], rows: int) -> None:
        self.tokenizer, self.stops = tokenizer, stops
        self.ids: list[list[int]] = [[] for _ in range(rows)]
        self.hit = [False] * rows

    def __call__(self, row: int, token: int) -> bool:
        self.ids[row].append(token)
        text = self.tokenizer.decode(self.ids[row], skip_special_tokens=False)
        self.hit[row] = any(s in text for s in self.stops)
        return self.hit[row]


def run_decoder(engine: Any, decoder: Any, batch: Any) -> list[tuple[list[int], bool | None, bool]]:
    s = batch.settings
    stop_ids = engine.stop_token_ids()
    grammar = None
    if batch.grammars is not None:
        from expertkit.runtime.constrained import GrammarAfterThink

        grammar = GrammarAfterThink(batch.grammars, engine.think_vocab(), enable_thinking=s.enable_thinking,
                                    stop_token_ids=stop_ids, reasoning=batch.reasoning, after_think=batch.after_think)
    rows = len(batch.prompts)
    cancelled = [False] * rows
    # with a grammar the grammar decides the end (as on HF); the engine still cuts at a stop string
    strings = _StopStrings(engine.tokenizer, s.stop_sequences, rows) if s.stop_sequences and grammar is None else None

    def on_token(row: int, token: int) -> bool:
        keep = batch.on_token(row, token) if batch.on_token is not None else True
        if not keep or (batch.cancel is not None and batch.cancel.is_set()):
            cancelled[row] = True
            return False
        return not (strings is not None and strings(row, token))

    out = decoder.run(batch.prompts, batch.keys, max_new_tokens=s.max_new_tokens, stop_ids=stop_ids,
                      temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, min_p=s.min_p,
                      min_new_tokens=batch.min_new_tokens or 0, logits_processor=grammar, on_token=on_token)
    results = []
    for i, ids in enumerate(out):
        ended = cancelled[i] or (strings is not None and strings.hit[i]) or len(ids) >= s.max_new_tokens
        if not ended:
            ids = [*ids, stop_ids[0]]  # it ended on a stop token, which the decoder leaves out
        results.append((ids, grammar.grammar_complete(i) if grammar else None, cancelled[i]))
    return results
