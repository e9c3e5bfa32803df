"""Run test cases through the inference engine: the expert, and optionally the base model.

`run_suite` is what `expert-cli test` and the expert's tests/*.py scripts call: it loads the
manifest and cases (every case checked before a model loads), computes the decoding settings
once (the grammar cases are judged by is the grammar the model is held to) and passes them to
the engine, generates in batches with the expert, then as a second set of requests naming no
expert (``experts=[]``) for `compare_base`, judges each answer, and computes quality_metrics and
perf (latency, the expert's measured memory, batch sizes seen). ``backend`` is the engine's
(the lean decoder by default, HF generate + PEFT where it can't or when asked). It never prints;
`progress(done, total, label)` reports progress.

The base model gets the expert's decoding settings except one: when the expert is set to think
(`enable_thinking: true`, which opens a think block in the prompt), the base answers directly.
A base model never trained on the think protocol rarely closes the block: it would spend every
case's max_new_tokens rambling and score 0 without ever answering, which is neither a fair
baseline nor a cheap one. Answering directly under the same grammar is its best shot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertkit.evaluation.cases import TestCase, load_cases
from expertkit.evaluation.matchers import judge
from expertkit.evaluation.metrics import now_iso, perf_metrics, quality_metrics
from expertkit.evaluation.overlap import suite_overlap
from expertkit.evaluation.provenance import TrainingInfo, training_info

Progress = Callable[[int, int, str], None]


@dataclass
class CaseResult:
    id: str
    name: str
    category: str
    match: str
    passed: bool
    reason: str
    output: str  # the answer (think block removed)
    expected: str
    reasoning: str | None
    latency_ms: float
    tokens: int
    finish_reason: str
    input: str = ""


@dataclass
class SuiteResult:
    manifest: Path
    adapter: str  # as named by the user (relative to the manifest dir when inside it)
    cases_path: Path
    categories: list[str] | None
    expert: list[CaseResult]
    base: list[CaseResult] | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    perf: dict[str, Any] | None = None
    training: TrainingInfo = field(default_factory=TrainingInfo)
    min_improvement: float = 0.0
    warnings: list[str] = field(default_factory=list)
    expert_name: str = ""  # "expert-sql 0.1.0"
    overlap: Any = None  # evaluation.overlap.OverlapReport: how close the cases are to the training data

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.expert)

    @property
    def total(self) -> int:
        return len(self.expert)

    @property
    def all_passed(self) -> bool:
        return self.passed == self.total

    @property
    def margin(self) -> float | None:
        """Expert score minus base score (0-10 points), None without a comparison."""
        if self.base is None:
            return None
        return round(self.quality["benchmark_score"] - self.quality["base_model_score"], 2)

    @property
    def beats_base(self) -> bool:
        return self.margin is not None and self.margin > self.min_improvement

    def to_dict(self) -> dict[str, Any]:
        return {
            "expert_name": self.expert_name, "manifest": str(self.manifest), "adapter": self.adapter, "cases": str(self.cases_path),
            "categories": self.categories, "passed": self.passed, "total": self.total, "all_passed": self.all_passed,
            "compared_with_base": self.base is not None, "margin": self.margin, "min_improvement": self.min_improvement,
            "beats_base": self.beats_base if self.base is not None else None,
            "quality_metrics": self.quality, "perf": self.perf, "training_steps": self.training.steps,
            "expert": [asdict(r) for r in self.expert], "base": [asdict(r) for r in self.base] if self.base is not None else None,
            "warnings": self.warnings, "overlap": asdict(self.overlap) if self.overlap is not None else None,
        }


def run_cases(engine: Any, cases: list[TestCase], *, experts: Any = None, batch_size: int = 8,
              progress: Progress | None = None, label: str = "expert", batch_sizes: set[int] | None = None,
              **overrides: Any) -> list[CaseResult]:
    """Generate an answer for each case (in batches) and judge it with the case's matcher.

    ``experts`` as for `InferenceEngine.generate` (None = the engine's expert, [] = the base model);
    the batch sizes generated with are added to ``batch_sizes``."""
    from expertkit.runtime.prompts import Request

    results: list[CaseResult] = []
    step = max(1, batch_size)
    for start in range(0, len(cases), step):
        chunk = cases[start:start + step]
        gens = engine.generate([Request(input=c.input, system=c.system) for c in chunk], batch_size=step, experts=experts,
                               **overrides)
        for case, gen in zip(chunk, gens, strict=True):
            if batch_sizes is not None:
                batch_sizes.add(gen.batch_size)
            verdict = judge(gen.answer, case)
            reason = verdict.reason
            if not verdict.passed and gen.finish_reason == "length":
                reason += f" (stopped at max_new_tokens after {gen.tokens} tokens)"
            results.append(CaseResult(case.id, case.name, case.category, case.match, verdict.passed, reason, gen.answer,
                                      case.expected_text, gen.reasoning, round(gen.latency_ms, 1), gen.tokens,
                                      gen.finish_reason, case.input))
        if progress:
            progress(len(results), len(cases), label)
    return results


def default_adapter(loaded: Any, model: str | None = None) -> Path:
    """training.packaging_checkpoint when set, else weights/<model-slug>/final (relative to the manifest)."""
    from expertkit.manifest.layout import default_adapter_dir

    return default_adapter_dir(loaded, model)


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (as manifests store paths), else as given."""
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def run_suite(manifest: str | Path, adapter: str | Path | None = None, *, cases_path: str | Path | None = None,
              categories: list[str] | None = None, compare_base: bool = False, measure_perf: bool = True,
              batch_size: int = 8, model: str | None = None, device: str = "auto", progress: Progress | None = None,
              overrides: dict[str, Any] | None = None, backend: str = "decoder") -> SuiteResult:
    """Test ``adapter`` (default: `default_adapter`) on the manifest's cases; see the module doc."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.adapter_source import open_adapter
    from expertkit.runtime.engine import InferenceEngine
    from expertkit.runtime.settings import expert_settings

    loaded = load_manifest(manifest)
    cases_file = Path(cases_path) if cases_path else loaded.resolve("tests/test_cases.json")
    adapter_path = Path(adapter) if adapter is not None else default_adapter(loaded, model)
    with open_adapter(adapter_path) as source:
        settings = expert_settings(loaded, source)  # once: the cases and the engine share it
        if overrides:
            settings = settings.override(**overrides)
        cases = load_cases(cases_file, categories, default_grammar=settings.grammar_file)
        info = training_info(source.path, source.origin, source.checkpoint_step)
        with InferenceEngine.from_manifest(loaded, source, settings=settings, model=model, device=device,
                                           backend=backend) as engine:
            sizes: set[int] = set()
            expert = run_cases(engine, cases, batch_size=batch_size, progress=progress, label="expert", batch_sizes=sizes)
            base = run_cases(engine, cases, experts=[], batch_size=batch_size, progress=progress, label="base",
                             **base_overrides(settings)) if compare_base else None
            perf = _measure_perf(engine, cases[0].input, sizes) if measure_perf else None
            warnings = list(engine.base.warnings)
    shown = display_path(adapter_path, loaded.base_dir)
    quality = quality_metrics([r.passed for r in expert], [r.passed for r in base] if base is not None else None,
                              checkpoint=shown, training_steps=info.steps, test_date=now_iso())
    overlap, unmeasured = suite_overlap(loaded, cases)
    quality["test_train_overlap"] = overlap.summary() if overlap is not None else None
    warnings += [note for note in (unmeasured, overlap.warning() if overlap is not None else None) if note]
    return SuiteResult(loaded.path, shown, cases_file, categories, expert, base, quality, perf, info,
                       loaded.model.evaluation.min_improvement, warnings, f"{loaded.model.name} {loaded.model.version}", overlap)


def base_overrides(settings: Any) -> dict[str, Any]:
    """Decoding changes for the base model: no forced think block (see the module doc)."""
    return {"enable_thinking": False} if settings.enable_thinking is True else {}


def _measure_perf(engine: Any, prompt: str, batch_sizes: set[int], *, tokens: int = 16, repeats: int = 3) -> dict[str, Any]:
    from expertkit.evaluation.timing import compare_latency

    samples = compare_latency(engine, prompt, {"adapter": {}, "base": {"experts": []}}, tokens=tokens, repeats=repeats)
    expert = engine.pool.get(engine.default_experts[0])
    return perf_metrics(samples["adapter"].per_token_ms, samples["base"].per_token_ms, adapter_bytes=expert.param_bytes,
                        batch_sizes=sorted(batch_sizes | {1}))  # 1: the latency probe
