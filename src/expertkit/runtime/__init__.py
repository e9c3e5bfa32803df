"""Inference: base model + adapter, decoding settings, grammar-constrained generation.

`InferenceEngine.from_manifest(manifest, adapter)` then `engine.generate([...])`; the base
model alone via `engine.generate(..., use_adapter=False)` or `with engine.adapter_disabled():`.
Submodules import torch/transformers, so import them where needed (not from here).
"""
