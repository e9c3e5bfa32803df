"""Base models: resolution (aliases, imports, paths, GGUF conversion), loading, tiny test models."""
