"""quality_metrics and perf arithmetic, kept apart from running models so it is easy to test.

- benchmark_score / base_model_score: 10 x pass rate (0-10), two decimals.
- improvement_percent: (expert - base) / base x 100, one decimal. With a base score of 0 a
  relative change is undefined: 0.0 when the expert also scores 0, otherwise null (None);
  the points difference is still visible from the two scores.
- win_rate_vs_base: per case expert passes and base fails 1, same outcome 0.5, the reverse 0;
  averaged over the cases, three decimals.
- latency_ms_overhead: median per-token latency with the adapter minus without (may be
  slightly negative on a noisy machine: it is reported as measured).
- vram_mb_overhead: adapter parameter bytes in MB (2^20 bytes), plus the measured CUDA memory
  delta of loading the adapter when running on CUDA.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

MB = 1024 * 1024


def score(passed: Sequence[bool]) -> float:
    return round(10 * sum(passed) / len(passed), 2) if passed else 0.0


def improvement_percent(expert_score: float, base_score: float) -> float | None:
    if base_score == 0:
        return 0.0 if expert_score == 0 else None
    return round((expert_score - base_score) / base_score * 100, 1)


def case_win(expert_passed: bool, base_passed: bool) -> float:
    if expert_passed == base_passed:
        return 0.5
    return 1.0 if expert_passed else 0.0


def win_rate(expert: Sequence[bool], base: Sequence[bool]) -> float:
    if len(expert) != len(base):
        raise ValueError("expert and base results must cover the same cases")
    if not expert:
        return 0.0
    return round(sum(case_win(e, b) for e, b in zip(expert, base, strict=True)) / len(expert), 3)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def quality_metrics(expert: Sequence[bool], base: Sequence[bool] | None, *, checkpoint: str | None,
                    training_steps: int | None, test_date: str | None = None) -> dict[str, Any]:
    """The manifest's quality_metrics from per-case pass/fail (base None: not compared)."""
    expert_score = score(expert)
    base_score = score(base) if base is not None else None
    return {
        "benchmark_score": expert_score,
        "base_model_score": base_score,
        "improvement_percent": improvement_percent(expert_score, base_score) if base_score is not None else None,
        "win_rate_vs_base": win_rate(expert, base) if base is not None else None,
        "test_queries": len(expert),
        "checkpoint": checkpoint,
        "training_steps": training_steps,
        "test_date": test_date or now_iso(),
    }


def perf_metrics(adapter_ms: Sequence[float], base_ms: Sequence[float], *, adapter_bytes: int, cuda_bytes: int = 0,
                 batch_sizes: Sequence[int] = ()) -> dict[str, Any]:
    """The manifest's perf from per-token latencies (ms) with and without the adapter."""
    overhead = statistics.median(adapter_ms) - statistics.median(base_ms) if adapter_ms and base_ms else None
    return {
        "latency_ms_overhead": round(overhead, 3) if overhead is not None else None,
        "vram_mb_overhead": round((adapter_bytes + max(0, cuda_bytes)) / MB, 3),
        "supported_batch_sizes": sorted(set(batch_sizes)),
    }
