"""quality_metrics and perf arithmetic."""

from __future__ import annotations

import pytest

from expertkit.evaluation.metrics import case_win, improvement_percent, perf_metrics, quality_metrics, score, win_rate


def test_scores():
    assert score([True, True, False, False]) == 5.0
    assert score([True, False, False]) == 3.33
    assert score([]) == 0.0


def test_improvement_percent():
    assert improvement_percent(8.0, 4.0) == 100.0
    assert improvement_percent(3.0, 6.0) == -50.0
    assert improvement_percent(0.0, 0.0) == 0.0
    assert improvement_percent(5.0, 0.0) is None  # relative change from 0 is undefined


def test_win_rate():
    assert (case_win(True, False), case_win(False, False), case_win(True, True), case_win(False, True)) == (1.0, 0.5, 0.5, 0.0)
    assert win_rate([True, True, False, False], [False, True, False, True]) == 0.5
    assert win_rate([True, True, True], [False, False, True]) == 0.833
    with pytest.raises(ValueError):
        win_rate([True], [])


def test_quality_metrics():
    q = quality_metrics([True, True, True, False], [True, False, False, False], checkpoint="weights/m/final", training_steps=40,
                        test_date="2026-01-01T00:00:00+00:00")
    assert q == {"benchmark_score": 7.5, "base_model_score": 2.5, "improvement_percent": 200.0, "win_rate_vs_base": 0.75,
                 "test_queries": 4, "checkpoint": "weights/m/final", "training_steps": 40, "test_date": "2026-01-01T00:00:00+00:00"}
    alone = quality_metrics([True, False], None, checkpoint=None, training_steps=None)
    assert alone["base_model_score"] is None and alone["win_rate_vs_base"] is None and alone["test_date"].endswith("+00:00")


def test_perf_metrics():
    p = perf_metrics([2.0, 2.5, 9.0], [1.5, 2.0, 1.0], adapter_bytes=3 * 1024 * 1024, cuda_bytes=1024 * 1024, batch_sizes=[4, 1, 4, 2])
    assert p == {"latency_ms_overhead": 1.0, "vram_mb_overhead": 4.0, "supported_batch_sizes": [1, 2, 4]}
