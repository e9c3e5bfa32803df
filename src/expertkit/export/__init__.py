"""Hand-off to other serving engines: `vllm` (LoRA adapters + launch line + request snippets)
and `merged` (a plain model with the expert folded in).

This layer sits above runtime (it uses the grammar compiler, decoding settings and adapter
reader) and registry (installed experts); only the CLI imports it.
"""
