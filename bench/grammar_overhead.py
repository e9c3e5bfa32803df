"""Per-token generation latency with and without a GBNF grammar (xgrammar), side by side.

Both variants decode the same prompt greedily on the same loaded model; the grammar variant
runs the engine's grammar processor (`expertkit.runtime.constrained`: xgrammar token bitmask
each step) from the first answer token. Each run's figure is the median time between decoding
steps after the prefill (`expertkit.evaluation.timing`), so the two are comparable even though the
grammar decides its own output length. Target: grammar/free <= 1.10x.

    .venv/bin/python bench/grammar_overhead.py                       # smollm2-135m-instruct, built-in SQL grammar
    .venv/bin/python bench/grammar_overhead.py --grammar my.gbnf --tokens 64
    .venv/bin/python bench/grammar_overhead.py --model-dir /path/to/tiny --tokens 16 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

SQL_GRAMMAR = r"""
root   ::= "SELECT " cols " FROM " ident where? order? limit? ";"
cols   ::= "*" | col ("," " "? col)*
col    ::= ident ("." ident)?
ident  ::= [a-zA-Z_] [a-zA-Z0-9_]*
where  ::= " WHERE " cond ((" AND " | " OR ") cond)*
cond   ::= col " "? ("=" | ">" | "<" | ">=" | "<=" | "!=") " "? value
value  ::= [0-9]+ | "'" [^']* "'" | col
order  ::= " ORDER BY " col (" ASC" | " DESC")?
limit  ::= " LIMIT " [0-9]+
"""
SYSTEM = "Schema: users(id, name, email, age, city), orders(id, user_id, total, created_at)"
PROMPT = "List the name and email of every user older than 30 who lives in Paris, ordered by name."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model alias/name (see `expert-cli models list`)")
    parser.add_argument("--model-dir", type=Path, help="a local HF model directory instead of --model")
    parser.add_argument("--grammar", type=Path, help="GBNF file (default: a built-in SQL SELECT grammar)")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    from expertkit.evaluation.timing import compare_latency
    from expertkit.models.loading import load_base
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import DecodingSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    base = load_base(str(args.model_dir) if args.model_dir else args.model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        grammar = args.grammar or Path(tmp) / "sql.gbnf"
        if args.grammar is None:
            grammar.write_text(SQL_GRAMMAR)
        engine = InferenceEngine(base, DecodingSettings(grammar_file=grammar.resolve()), system_prompt=SYSTEM)
        samples = compare_latency(engine, PROMPT, {"free": {}, "grammar": {"grammar": True}}, tokens=args.tokens, repeats=args.repeats)
        constrained = engine.generate([PROMPT], use_grammar=True, enable_thinking=False, max_new_tokens=args.tokens)[0]
        free = engine.generate([PROMPT], enable_thinking=False, max_new_tokens=args.tokens)[0]
        step_ms = processor_cost(engine, constrained.answer, args.repeats)
    f, g = samples["free"].median, samples["grammar"].median
    print(f"model {base.resolved.name} ({base.resolved.path}); grammar {args.grammar or 'built-in SQL SELECT'}")
    print(f"threads {torch.get_num_threads()}, up to {args.tokens} new tokens, {args.repeats} interleaved runs each (+1 warm-up)")
    print(f"{'':10}{'ms/token (median)':>20}{'tokens/run':>12}    runs")
    for name, s in samples.items():
        print(f"{name:10}{s.median:20.2f}{statistics_tokens(s.tokens):>12}    {', '.join(f'{x:.2f}' for x in s.per_token_ms)}")
    verdict = "within" if g / f <= 1.10 else "ABOVE"
    print(f"ratio grammar/free: {g / f:.3f}x ({verdict} the 1.10x target; {g - f:+.2f} ms/token)")
    print(f"grammar processor alone (replaying the constrained answer, no model): {step_ms:.3f} ms/step "
          f"= {step_ms / f * 100:.2f}% of a free step -> model-independent ratio {(f + step_ms) / f:.3f}x")
    print(f"free output:       {free.answer[:120]!r}")
    print(f"constrained output: {constrained.answer[:120]!r} (grammar complete: {constrained.grammar_complete})")
    return 0


def processor_cost(engine, answer: str, repeats: int) -> float:
    """Median time of one grammar-processor call (matcher advance + bitmask fill + apply) per token.

    Timing the processor alone, on the tokens of a real constrained answer with random logits,
    separates the grammar's cost from the model's, which on a shared machine is noisy.
    """
    import statistics
    import time

    import torch

    from expertkit.runtime.constrained import GrammarAfterThink

    compiled, vocab = engine.compiled_grammar(engine.settings.override(use_grammar=True)), engine.vocab_size()
    ids = engine.tokenizer.encode(answer, add_special_tokens=False) + engine.stop_token_ids()[:1]
    times = []
    for _ in range(max(1, repeats)):
        proc = GrammarAfterThink([compiled], engine.think_vocab(), enable_thinking=False, stop_token_ids=engine.stop_token_ids())
        seq = [0]
        for token in ids:
            scores = torch.randn(1, vocab)
            start = time.perf_counter()
            proc(torch.tensor([seq]), scores)
            times.append((time.perf_counter() - start) * 1000)
            seq.append(token)
    return statistics.median(times)


def statistics_tokens(tokens: list[int]) -> str:
    return str(tokens[0]) if len(set(tokens)) == 1 else f"{min(tokens)}-{max(tokens)}"


if __name__ == "__main__":
    sys.exit(main())
