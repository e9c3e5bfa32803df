"""Inference: one base model, an expert pool, composition by the manifests, streaming generation.

`InferenceEngine.from_manifest(manifest, adapter)` then `engine.generate([...], experts=...)` or
`engine.stream(...)`; `experts=[]` is the base model alone, `"a+b:0.5"` a composition (compose.py).
Submodules import torch/transformers, so import them where needed (not from here).
"""
