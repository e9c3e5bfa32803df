"""`test --checkpoints DIR`: test every checkpoint-N and pick the one to package.

The best checkpoint has the highest benchmark score; ties go to the earlier step (less
training for the same result: cheaper, and less likely to be overfit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertkit.errors import UsageError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class CheckpointResult:
    path: str  # as stored in the manifest (relative to it when inside)
    step: int
    score: float
    passed: int
    total: int
    test_date: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "step": self.step, "benchmark_score": self.score, "passed": self.passed,
                "total": self.total, "test_date": self.test_date}


def find_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint-N under ``directory``, by step."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"checkpoints directory {directory}: not a directory", hint="pass weights/<model-slug>/ (where `train` saved checkpoints)")
    found = []
    for child in directory.iterdir():
        match = CHECKPOINT_RE.match(child.name)
        if match and child.is_dir() and (child / "adapter_config.json").is_file():
            found.append((int(match.group(1)), child))
    if not found:
        raise UsageError(f"{directory}: no checkpoint-N directories with an adapter inside", param="checkpoints",
                         hint="train with save_strategy steps, or test one adapter on its own")
    return sorted(found)


def best_checkpoint(results: list[CheckpointResult]) -> CheckpointResult:
    """Highest score; ties -> the earlier step."""
    return min(results, key=lambda r: (-r.score, r.step))


def record_checkpoints(raw: dict[str, Any], results: list[CheckpointResult], best: CheckpointResult) -> None:
    """Edit function for `update_manifest`: entries for re-tested paths are replaced, others kept."""
    training = raw.setdefault("training", {})
    tested = {r.path for r in results}
    existing = training.get("alternative_checkpoints")
    if isinstance(existing, dict):  # the reference schema's shape: keyed by checkpoint name; entries keep their other keys
        merged = dict(existing)
        for r in results:
            name = Path(r.path).name
            merged[name] = {**(existing.get(name) if isinstance(existing.get(name), dict) else {}), **r.to_dict()}
        training["alternative_checkpoints"] = merged
    else:
        kept = [e for e in existing or [] if not (isinstance(e, dict) and e.get("path") in tested)]
        training["alternative_checkpoints"] = kept + [r.to_dict() for r in results]
    training["packaging_checkpoint"] = best.path


def run_checkpoints(manifest: str | Path, directory: str | Path, *, progress: Any = None, **suite_kwargs: Any) -> tuple[list[CheckpointResult], CheckpointResult]:
    """Run the suite on every checkpoint-N of ``directory``; returns (results by step, best)."""
    from expertkit.evaluation.runner import run_suite

    results = []
    for step, path in find_checkpoints(directory):
        suite = run_suite(manifest, path, measure_perf=False, progress=progress, **suite_kwargs)
        results.append(CheckpointResult(suite.adapter, step, suite.quality["benchmark_score"], suite.passed, suite.total,
                                        suite.quality["test_date"]))
    return results, best_checkpoint(results)
