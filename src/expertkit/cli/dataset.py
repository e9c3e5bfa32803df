"""`expert-cli dataset prepare|validate|stats`: the guide's "Dataset Creation" as commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from expertkit.cli.errors import WrappingGroup
from expertkit.cli.options import JsonOpt, ManifestOpt, ModelOpt, SeedOpt
from expertkit.cli.output import Output, esc

dataset_app = typer.Typer(cls=WrappingGroup, help="Prepare, validate and describe training data (Qwen3 native chat format).", no_args_is_help=True)

PathArg = Annotated[Path, typer.Argument(help="A dataset file (.jsonl; stats also reads .json, .csv, .parquet).")]
OptionalManifest = Annotated[
    Path | None,
    typer.Option("--manifest", "-m", help="Manifest whose base model's tokenizer measures lengths in tokens (and gives max_seq_length)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")


@dataset_app.command("prepare", help="Raw files in datasets/raw -> train/validation/test .jsonl, counts into the manifest.")
def prepare_cmd(
    manifest: ManifestOpt = Path("manifest.json"),
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Go on past invalid records; they are written with their reason to datasets/processed/rejected.jsonl.")
    ] = False,
    seed: SeedOpt = None,
    no_hooks: Annotated[bool, typer.Option("--no-hooks", help="Ignore the HOOKS defined in the expert's preprocess.py.")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.data.pipeline import load_hooks, prepare

    out = Output(json_out)
    hooks = None if no_hooks else load_hooks(manifest.parent / "preprocess.py")
    result = prepare(manifest, hooks=hooks, skip_invalid=skip_invalid, seed=seed)
    out.warnings(result.warnings)
    out.result(result.to_dict(), lambda: _print_prepare(out, result))


def _print_prepare(out: Output, result: Any) -> None:
    from rich.table import Table

    files = ", ".join(f"{f} ({n})" for f, n in result.files.items())
    out.print(f"read {len(result.files)} file(s): {esc(files)}")
    if result.hooks:
        out.print(f"hooks from preprocess.py: {', '.join(result.hooks)}")
    table = Table(title_justify="left", show_header=True)
    table.add_column("split")
    table.add_column("examples", justify="right")
    table.add_column("file", overflow="fold")
    for name, count in result.splits.items():
        table.add_row(name, str(count), esc(result.split_paths[name]))
    table.add_row("[red]invalid[/]" if result.invalid else "invalid", str(result.invalid), esc(result.rejected_path))
    table.add_row("[yellow]duplicates[/]" if result.duplicates else "duplicates", str(result.duplicates), esc(result.duplicates_path))
    out.table(table)
    mix = result.reasoning
    out.print(
        f"reasoning: {mix.with_reasoning} of {result.written} with <think> (achieved {mix.achieved_ratio:.2f}, target "
        f"{mix.target_ratio:.2f}); {mix.direct} direct, {mix.direct_no_reasoning_available} of them without reasoning text"
    )
    for note in result.notes:
        out.print(esc(note))
    out.print(f"[green]✓[/] {esc(result.equation)}")


def _check_model_choice(manifest: Path, model: str | None) -> None:
    """The manifest and --model name a base model (cheap: no tokenizer is loaded)."""
    from expertkit.manifest.layout import pick_base_model
    from expertkit.manifest.loader import load_manifest

    pick_base_model(load_manifest(manifest, check_files=False), model)


def _token_counter(manifest: Path, model: str | None) -> tuple[Callable[[list[str]], list[int]], int, str]:
    """(count tokens of texts, max_seq_length, model name) for the manifest's base model."""
    from expertkit.manifest.layout import pick_base_model
    from expertkit.manifest.loader import load_manifest
    from expertkit.models.loading import load_tokenizer
    from expertkit.models.resolve import resolve_model

    loaded = load_manifest(manifest, check_files=False)
    spec = pick_base_model(loaded, model)
    tokenizer = load_tokenizer(resolve_model(spec.name))

    def count(texts: list[str]) -> list[int]:
        lengths: list[int] = []
        for start in range(0, len(texts), 1000):
            ids = tokenizer(texts[start:start + 1000], add_special_tokens=False)["input_ids"]
            lengths += [len(x) for x in ids]
        return lengths

    return count, loaded.model.training.config.max_seq_length, spec.name


@dataset_app.command("validate", help="Check every line is a Qwen3 conversation; with --tokens, count what max_seq_length would truncate.")
def validate_cmd(
    path: PathArg,
    manifest: OptionalManifest = None,
    model: ModelOpt = None,
    tokens: Annotated[bool, typer.Option("--tokens", help="Also count tokens with the base model's tokenizer (loads it; needs --manifest).")] = False,
    json_out: JsonOpt = False,
) -> None:
    from expertkit.data.dataset_check import check_file
    from expertkit.errors import UsageError

    out = Output(json_out)
    if tokens and manifest is None:
        raise UsageError("--tokens needs --manifest (its base model's tokenizer and max_seq_length)")
    # format checks need no model: the tokenizer is loaded only when token counts are asked for
    if manifest is not None and not tokens:
        _check_model_choice(manifest, model)  # a --model is never silently ignored, even without --tokens
    counter, max_len, model_name = _token_counter(manifest, model) if tokens else (None, None, None)
    report = check_file(path, count_tokens=counter, max_seq_length=max_len)
    out.warnings(report.warnings)
    out.result({**report.to_dict(), "tokenizer": model_name}, lambda: _print_check(out, report, model_name))
    if not report.ok:
        raise typer.Exit(2)


def _print_check(out: Output, report: Any, model_name: str | None) -> None:
    for problem in report.problems:
        out.print(f"[red]error[/]   {esc(report.path)}:{problem['line']}: {esc(problem['message'])}")
    if report.problem_count > len(report.problems):
        out.print(f"        ... and {report.problem_count - len(report.problems)} more")
    if report.tokens:
        t = report.tokens
        out.print(f"tokens ({esc(model_name or '')}): p50 {t['p50']}, p95 {t['p95']}, max {t['max']}; max_seq_length {report.max_seq_length}")
    if report.ok:
        out.print(f"[green]✓[/] {esc(report.path)}: {report.lines} line(s), all valid")
    else:
        out.print(f"[red]✗[/] {esc(report.path)}: {report.problem_count} invalid of {report.lines} line(s)")


@dataset_app.command("stats", help="Counts, length percentiles, think ratio, duplicates and field coverage of a dataset file.")
def stats_cmd(path: PathArg, manifest: OptionalManifest = None, model: ModelOpt = None, json_out: JsonOpt = False) -> None:
    from expertkit.data.stats import dataset_stats

    out = Output(json_out)
    counter, _, model_name = _token_counter(manifest, model) if manifest else (None, None, None)
    stats = dataset_stats(path, count_tokens=counter)
    out.warnings(stats.warnings)
    out.result({**stats.to_dict(), "tokenizer": model_name}, lambda: _print_stats(out, stats, model_name))


def _print_stats(out: Output, stats: Any, model_name: str | None) -> None:
    from rich.table import Table

    out.print(f"[bold]{esc(stats.path)}[/]: {stats.examples} example(s), {stats.malformed} malformed, {stats.duplicates} duplicate(s)")
    unit = f"{stats.length_unit} ({esc(model_name)})" if model_name else stats.length_unit
    lengths = Table(title=f"length of {stats.length_of} in {unit}", title_justify="left")
    keys = [k for k in ("min", "mean", "p50", "p90", "p95", "p99", "max") if k in stats.lengths]
    for key in keys:
        lengths.add_column(key, justify="right")
    if keys:
        lengths.add_row(*(str(stats.lengths[k]) for k in keys))
        out.table(lengths)
    if stats.conversations:
        out.print(
            f"conversations: {stats.conversations}; with <think>: {stats.with_think} (ratio {stats.think_ratio:.2f}); "
            f"with a system turn: {stats.system_turns}; multi-turn: {stats.multi_turn}"
        )
    coverage = Table(title="field coverage", title_justify="left")
    coverage.add_column("field")
    coverage.add_column("share", justify="right")
    for name, share in stats.field_coverage.items():
        coverage.add_row(esc(name), f"{share:.1%}")
    out.table(coverage)
