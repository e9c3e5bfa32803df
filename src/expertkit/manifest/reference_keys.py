"""Keys the reference schema (hivellm/expert `schemas/expert-manifest.schema.json`) defines that
expertkit keeps but does not act on, each with the reason a user gets once.

Keys the reference schema defines and we honour are fields of the model in `model.py`; the ones
listed here stay extra keys (kept as is, never rewritten). The loader reports them in one line
per section ("not used by expertkit: ..."), so "unknown key (typos?)" is left for keys neither
schema knows.
"""

from __future__ import annotations

from expertkit.manifest.model import (
    Adapter,
    Dataset,
    DatasetValidation,
    Decoding,
    Evaluation,
    Manifest,
    Training,
    TrainingConfig,
)

_CUDA_KERNELS = "attention kernels and CUDA graphs are chosen by PyTorch/transformers for the device"

# section model -> {key: why it has no effect}
NOT_USED: dict[type, dict[str, str]] = {
    TrainingConfig: {
        "use_sdpa": _CUDA_KERNELS,
        "flash_attention_2": _CUDA_KERNELS,
        "memory_efficient_attention": _CUDA_KERNELS,
        "use_cuda_graphs": _CUDA_KERNELS,
        "cuda_graph_warmup_steps": _CUDA_KERNELS,
        "memory_clear_every": "memory is released by the allocator; no manual clearing",
        "activation_checkpointing": "gradient_checkpointing decides what is recomputed",
        "pretokenized_cache": "examples are tokenized in memory at the start of each run",
    },
    Training: {
        "trained_on": "release metadata",
        "base_model_version": "release metadata",
        "checkpoint": "release metadata (packaging_checkpoint picks the packaged one)",
        "quality_score": "release metadata (quality_metrics is filled by `test`)",
        "test_scenarios": "release metadata",
    },
    Dataset: {
        "streaming": "splits are read from local jsonl files",
        "source": "provenance notes",
        "sources": "provenance notes",
        "tasks": "multi-task datasets are not supported; one training split is used",
        "augmentation": "no augmentation step (the reference trainer did not implement it either)",
        "format_distribution": "statistics",
        "task_distribution": "statistics",
        "splits": "statistics (split shares are training.dataset.split)",
    },
    DatasetValidation: {
        "validate_json": "use require_json_output",
        "validate_schema": "no schema check in dataset prepare",
        "deduplicate": "dataset prepare always removes duplicates (dedup_key)",
    },
    Decoding: {
        "validation": "post-generation validation is done by test-case matchers",
        "validation_cmd": "post-generation validation is done by test-case matchers",
    },
    Adapter: {
        "scaling": "informative (the adapter's own config decides)",
        "use_dora": "informative (adapter type decides)",
        "feedforward_modules": "informative (training.config.feedforward_modules is used)",
    },
    Evaluation: {
        "test_cases": "test cases are read from tests/ (or --cases)",
        "suite": "test cases are read from tests/ (or --cases)",
        "metrics": "metrics are computed by `test` into quality_metrics",
    },
    Manifest: {},
}

# extra keys honoured by a validator of the model (aliases): neither typos nor unused
ALIASES: dict[type, frozenset[str]] = {TrainingConfig: frozenset({"num_epochs"})}

# free-form sections whose reference keys are metadata for the reference (Candle) runtime
RUNTIME_KEYS = {"candle_compatible", "requires_kv_cache_persistence", "attention_kernel"}
RUNTIME_REASON = "metadata for the reference Candle runtime"


def classify_extra(section: type, key: str) -> str | None:
    """"alias", the reason a reference key is not used, or None for a key neither schema knows."""
    if key in ALIASES.get(section, ()):
        return "alias"
    for cls in section.__mro__:
        if key in NOT_USED.get(cls, {}):
            return NOT_USED[cls][key]
    return None
