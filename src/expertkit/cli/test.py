"""`expert-cli test`: run tests/test_cases.json through the expert (and the base model).

Exit codes: 0 every selected case passed (with --compare-base: the expert beat the base by more
than evaluation.min_improvement points); 1 it did not (results, report and manifest updates are
still written); 2 bad input (cases, flags, grammar); 3 environment (model not prepared).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from expertkit.cli.options import BackendOpt, DeviceOpt, JsonOpt, ManifestOpt, MaxNewTokensOpt, ModelOpt, ThreadsOpt, use_threads
from expertkit.cli.output import Output, esc


def register(app: typer.Typer) -> None:
    app.command("test", help="Test the expert on tests/test_cases.json (optionally against the base model); exit 1 when cases fail.")(test)


def test(
    manifest: ManifestOpt = Path("manifest.json"),
    adapter: Annotated[Path | None, typer.Option(
        "--adapter", "-a", help="Adapter directory or .expert package (default: training.packaging_checkpoint, else weights/<model>/final).")] = None,
    cases: Annotated[Path | None, typer.Option("--cases", help="Test cases file (default: tests/test_cases.json beside the manifest).")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only these categories: basic, edge, hard (comma-separated).")] = None,
    compare_base: Annotated[bool, typer.Option(
        "--compare-base", help="Also run the base model; pass = expert beats base by > evaluation.min_improvement.")] = False,
    update_manifest: Annotated[bool, typer.Option(
        "--update-manifest", help="Write quality_metrics and perf (or, with --checkpoints, the checkpoint results) into the manifest.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here (and a .md beside it).")] = None,
    checkpoints: Annotated[Path | None, typer.Option(
        "--checkpoints", help="Test every checkpoint-N in this directory and pick the best to package.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Cases generated together (left-padded batch).")] = 8,
    max_new_tokens: MaxNewTokensOpt = None,
    grammar: Annotated[bool | None, typer.Option(
        "--grammar/--no-grammar", help="Constrain answers with the grammar (default: training.decoding.use_grammar).")] = None,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "decoder",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Only check the cases file (and the grammar against every expected_output); no model is loaded.")] = False,
) -> None:
    from expertkit.errors import UsageError
    from expertkit.evaluation.cases import parse_categories

    out = Output(json_out)
    if check:
        _check(out, manifest, cases)
        return
    use_threads(threads)
    categories = parse_categories(category)
    if checkpoints is not None and (adapter is not None or compare_base or report is not None):
        raise UsageError("--checkpoints tests every checkpoint; it can't be combined with --adapter, --compare-base or --report")
    overrides = {k: v for k, v in {"max_new_tokens": max_new_tokens, "use_grammar": grammar}.items() if v is not None}
    kwargs: dict[str, Any] = dict(cases_path=cases, categories=categories, batch_size=batch_size, model=model, device=device,
                                  backend=backend, overrides=overrides or None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # generation-config chatter, once per case batch
        with out.progress("test") as progress:
            if checkpoints is not None:
                outcome = _run_checkpoints(out, manifest, checkpoints, update_manifest, progress, kwargs)
            else:
                outcome = _run_single(out, manifest, adapter, compare_base, update_manifest, report, progress, kwargs)
    if outcome is not None:
        from expertkit.errors import TestsFailed

        raise TestsFailed(outcome)


def _check(out: Output, manifest: Path, cases: Path | None) -> None:
    from expertkit.evaluation.case_check import check_cases

    result = check_cases(manifest, cases)
    out.result(result.to_dict(), lambda: _print_check(out, result))
    if not result.ok:
        raise typer.Exit(2)


def _print_check(out: Output, result: Any) -> None:
    for problem in result.problems:
        out.print(f"[red]error[/]   {esc(problem)}")
    cats = ", ".join(f"{k} {v}" for k, v in result.categories.items())
    grammar = f"; {result.grammar_checked} expected_output(s) checked against {result.grammar}" if result.grammar else ""
    mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
    out.print(f"{mark} {esc(result.cases_file)}: {result.cases} case(s) ({cats}; may_fail {result.may_fail}){esc(grammar)}")


def _run_single(out: Output, manifest: Path, adapter: Path | None, compare_base: bool, update: bool, report: Path | None,
                progress: Any, kwargs: dict[str, Any]) -> str | None:
    """Run, print, record; returns the failure message or None when the run passes."""
    from expertkit.evaluation.recording import record_suite
    from expertkit.evaluation.report import write_report
    from expertkit.evaluation.runner import run_suite

    suite = run_suite(manifest, adapter, compare_base=compare_base, progress=progress.update, **kwargs)
    progress.stop()
    written = []
    if update:
        record_suite(manifest, suite.quality, suite.perf)
        written.append(str(manifest))
    if report is not None:
        written += [str(p) for p in write_report(suite, report)]
    out.warnings(suite.warnings)
    out.result({**suite.to_dict(), "written": written}, lambda: _print_suite(out, suite, written))
    if compare_base and not suite.beats_base:
        return (f"expert {suite.quality['benchmark_score']} vs base {suite.quality['base_model_score']}: margin {suite.margin} "
                f"does not exceed evaluation.min_improvement {suite.min_improvement}")
    if not compare_base and not suite.all_passed:
        return f"{suite.total - suite.passed} of {suite.total} test case(s) failed"
    return None


def _print_suite(out: Output, suite: Any, written: list[str]) -> None:
    from rich.table import Table

    from expertkit.evaluation.overlap import case_cell, category_lines

    table = Table(title=f"{esc(suite.adapter)}: {suite.passed}/{suite.total} passed", title_justify="left")
    overlap = {c.id: c for c in suite.overlap.cases} if suite.overlap is not None else {}
    for col in ("case", "category", "match", "expert", "latency ms") + (("base",) if suite.base is not None else ()) + ("train overlap", "why"):
        table.add_column(col)
    base = {r.id: r for r in suite.base or []}
    for r in suite.expert:
        row = [esc(r.id), r.category, r.match, _mark(r.passed), f"{r.latency_ms:.0f}"]
        if suite.base is not None:
            row.append(_mark(base[r.id].passed))
        row.append(esc(case_cell(overlap[r.id])) if r.id in overlap else "")
        row.append(esc(r.reason if not r.passed else ""))
        table.add_row(*row)
    out.table(table)
    for line in category_lines(suite.overlap) if suite.overlap is not None else ():
        out.print(f"test/train overlap {esc(line)}")
    q = suite.quality
    line = f"benchmark_score {q['benchmark_score']}/10"
    if suite.base is not None:
        imp = q["improvement_percent"]
        line += (f" · base {q['base_model_score']}/10 · improvement {'n/a (base 0)' if imp is None else f'{imp}%'}"
                 f" · win rate {q['win_rate_vs_base']} · margin {suite.margin} (need > {suite.min_improvement})")
    out.print(line)
    if suite.perf:
        p = suite.perf
        out.print(f"perf: +{p['latency_ms_overhead']} ms/token with the adapter · adapter {p['vram_mb_overhead']} MB · "
                  f"batch sizes {p['supported_batch_sizes']}")
    for path in written:
        out.print(f"wrote {esc(path)}")


def _mark(passed: bool) -> str:
    return "[green]pass[/]" if passed else "[red]FAIL[/]"


def _run_checkpoints(out: Output, manifest: Path, directory: Path, update: bool, progress: Any,
                     kwargs: dict[str, Any]) -> str | None:
    from rich.table import Table

    from expertkit.evaluation.checkpoints import record_checkpoints, run_checkpoints
    from expertkit.manifest.rewrite import update_manifest

    results, best = run_checkpoints(manifest, directory, progress=progress.update, **kwargs)
    progress.stop()
    if update:
        update_manifest(manifest, lambda raw: record_checkpoints(raw, results, best))

    def human() -> None:
        table = Table(title=f"checkpoints in {esc(directory)}", title_justify="left")
        for col in ("step", "checkpoint", "score", "passed", ""):
            table.add_column(col)
        for r in results:
            table.add_row(str(r.step), esc(r.path), f"{r.score}", f"{r.passed}/{r.total}", "[green]best[/]" if r is best else "")
        out.table(table)
        out.print(f"best: {esc(best.path)} (score {best.score}; ties go to the earlier step)")
        if update:
            out.print(f"wrote training.alternative_checkpoints and training.packaging_checkpoint to {esc(manifest)}")

    out.result({"checkpoints": [r.to_dict() for r in results], "best": best.to_dict(),
                "written": [str(manifest)] if update else []}, human)
    if best.passed < best.total:
        return f"best checkpoint {best.path} passed {best.passed} of {best.total} test case(s)"
    return None
