"""Write test results into manifest.json through the preserving rewriter.

Only quality_metrics and perf are touched (key by key, so unknown keys and key order survive).
Without a base comparison the comparison keys are written as null: a base score measured
against an older adapter would otherwise sit next to the new benchmark_score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expertkit.manifest.rewrite import merge_into, update_manifest


def record_suite(manifest: str | Path, quality: dict[str, Any], perf: dict[str, Any] | None) -> dict[str, Any]:
    """Merge ``quality`` (and ``perf`` when measured) into the manifest; returns the new raw dict."""

    def edit(raw: dict[str, Any]) -> None:
        merge_into(raw, "quality_metrics", quality)
        if perf is not None:
            merge_into(raw, "perf", perf)

    return update_manifest(manifest, edit)
