"""The transformers backend: one `Batch` through HF ``generate`` with PEFT adapters.

Rows are left-padded (decoder-only batching: every prompt ends at the same position). A batch
whose rows share one chain runs inside ``pool.activate(chain)``; rows for different single
LoRA experts run together with PEFT's per-row ``adapter_names``. A soft prompt is prepended as
embeddings with an all-ones mask, as PEFT's prompt tuning does. `_Watch` is a stopping criterion
that reports each new token (``on_token``), and stops a row when told to or when ``cancel`` is set.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList


class _Watch(StoppingCriteria):
    def __init__(self, batch: Any, stop_ids: list[int], prompt_len: int) -> None:
        self.batch = batch
        self.stops = set(stop_ids)
        self.prompt_len = prompt_len
        rows = len(batch.prompts)
        self.done = [False] * rows
        self.cancelled_at: list[int | None] = [None] * rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        step = input_ids.shape[1] - self.prompt_len
        last = input_ids[:, -1].tolist()
        cancel = self.batch.cancel is not None and self.batch.cancel.is_set()
        for row, token in enumerate(last):
            if self.done[row]:
                continue
            if token in self.stops:
                self.done[row] = True
                continue
            keep = self.batch.on_token(row, token) if self.batch.on_token is not None else True
            if cancel or not keep:
                self.done[row], self.cancelled_at[row] = True, step
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


def run_hf(engine: Any, batch: Any) -> list[tuple[list[int], bool | None, bool]]:
    pool, tok = engine.pool, engine.tokenizer
    model = pool.model
    device = engine.base.model.device
    width = max(len(p) for p in batch.prompts)
    pad = tok.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch.prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch.prompts], device=device)
    stop_ids = engine.stop_token_ids()
    processors, grammar = LogitsProcessorList(), None
    if batch.grammars is not None:
        from expertkit.runtime.constrained import GrammarAfterThink

        grammar = GrammarAfterThink(batch.grammars, engine.think_vocab(), enable_thinking=batch.settings.enable_thinking,
                                    stop_token_ids=stop_ids, reasoning=batch.reasoning, after_think=batch.after_think)
        processors.append(grammar)
    config = engine.generation_config(batch.settings, batch.min_new_tokens)
    extra: dict[str, Any] = {}
    if batch.settings.stop_sequences and grammar is None:  # with a grammar, the grammar decides the end
        config.stop_strings = list(batch.settings.stop_sequences)
        extra["tokenizer"] = tok  # generate needs it to match stop strings across token boundaries
    same = all(k == batch.keys[0] for k in batch.keys)
    names = None if same else pool.mixed_batch_names(batch.keys)
    if not same and names is None:
        raise ValueError("run_hf: rows with different chains that PEFT can't mix (the engine groups them)")
    if names is not None:
        extra["adapter_names"] = names
    with torch.inference_mode(), pool.activate(batch.keys[0]) if same else nullcontext() as soft:
        if soft is not None:
            embeds = model.get_input_embeddings()(ids)
            prefix = soft.unsqueeze(0).expand(len(batch.prompts), -1, -1)
            inputs = {"inputs_embeds": torch.cat([prefix, embeds], dim=1),
                      "attention_mask": torch.cat([torch.ones(mask.shape[0], prefix.shape[1], dtype=mask.dtype, device=device),
                                                   mask], dim=1)}
            prompt_len = 0  # with embeddings only, generate returns just the new tokens
        else:
            inputs, prompt_len = {"input_ids": ids, "attention_mask": mask}, width
        watch = _Watch(batch, stop_ids, prompt_len)
        out = model.generate(**inputs, generation_config=config, logits_processor=processors,
                             stopping_criteria=StoppingCriteriaList([watch]), **extra)
    new = out[:, prompt_len:].tolist()
    results = []
    for i, row in enumerate(new):
        cut = watch.cancelled_at[i]
        results.append((row if cut is None else row[:cut], grammar.grammar_complete(i) if grammar else None, cut is not None))
    return results
