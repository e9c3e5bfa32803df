"""`dataset prepare` as a library call: raw files -> train/validation/test in Qwen3 native format.

    load (raw_loaders) -> map fields (field_mapping) -> validate (validation + hook)
    -> dedup -> reasoning mix -> seeded shuffle and split -> write atomically -> counts into manifest

Every loaded record ends in exactly one place: a split, `processed/rejected.jsonl` (with its
reason) or `processed/duplicates.jsonl` (with what it repeats), so loaded = written + invalid +
duplicates always holds. Without ``skip_invalid`` the first invalid record stops the run with
`file:line: reason` and nothing is written.

An expert's preprocess.py customises the run with `PrepareHooks`; `expert-cli dataset prepare`
picks up the same hooks from it (see `load_hooks`), so both ways give the same files.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit import atomic
from expertkit.data.chat_format import format_chat, with_reasoning
from expertkit.data.dedup import Deduplicator
from expertkit.data.field_mapping import Conversation, FieldMapping, RecordError, to_conversation
from expertkit.data.raw_loaders import RawRecord, display_name, load_file, raw_files
from expertkit.data.reasoning import ReasoningMix, choose, default_ratio
from expertkit.data.split import SPLITS, shuffle_split
from expertkit.data.staging import DIGESTS_KEY, staging
from expertkit.data.validation import Rules, check_conversation, missing_required
from expertkit.errors import DatasetError, ExpertError

MIN_EXAMPLES = 1000  # the guide's minimum dataset size

Hook = Callable[[dict[str, Any]], str | None]


@dataclass
class PrepareHooks:
    """Per-record callables an expert's preprocess.py may supply; each gets the raw record.

    system_prompt: the system text for this record (None keeps the default: the record's
        `system` field, else `training.dataset.system_prompt`); `input` is still appended.
    extra_validation: a reason to reject the record, or None to keep it.
    reasoning: brief reasoning for the think block, or None (never invent it); wins over the
        record's `reasoning` field.
    """

    system_prompt: Hook | None = None
    extra_validation: Hook | None = None
    reasoning: Hook | None = None


@dataclass
class PrepareResult:
    manifest: str
    files: dict[str, int]  # raw file -> records loaded from it
    ignored_files: list[str]
    loaded: int
    written: int
    invalid: int
    duplicates: int
    splits: dict[str, int]
    split_paths: dict[str, str]
    reasoning: ReasoningMix
    shapes: dict[str, int]
    seed: int
    rejected_path: str
    duplicates_path: str
    hooks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def equation(self) -> str:
        return f"loaded {self.loaded} = written {self.written} + invalid {self.invalid} + duplicates {self.duplicates}"

    def counts(self) -> dict[str, Any]:
        """What goes into the manifest's `training.dataset.preprocessing`."""
        return {
            "loaded": self.loaded,
            "written": self.written,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "splits": dict(self.splits),
            "think_ratio": self.reasoning.achieved_ratio,
            "reasoning": self.reasoning.to_dict(),
            "shapes": dict(self.shapes),
            "seed": self.seed,
            "files": dict(self.files),
            "rejected_path": self.rejected_path,
            "duplicates_path": self.duplicates_path,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "equation": self.equation, **self.counts(), "split_paths": dict(self.split_paths),
                "ignored_files": list(self.ignored_files), "hooks": list(self.hooks), "warnings": list(self.warnings)}

    def summary_lines(self) -> list[str]:
        """Plain-text summary (preprocess.py prints it; the CLI renders its own table)."""
        mix = self.reasoning
        lines = [f"read {len(self.files)} file(s): " + ", ".join(f"{f} ({n})" for f, n in self.files.items()), self.equation]
        lines += [f"{name:<10} {self.splits[name]:>7}  -> {self.split_paths[name]}" for name in self.splits]
        lines.append(
            f"reasoning: {mix.with_reasoning}/{self.written} with <think> (achieved {mix.achieved_ratio:.2f}, target {mix.target_ratio:.2f}); "
            f"{mix.direct} direct, {mix.direct_no_reasoning_available} of them without reasoning text available"
        )
        lines.append(f"rejected   -> {self.rejected_path} ({self.invalid}); duplicates -> {self.duplicates_path} ({self.duplicates})")
        lines += self.notes
        lines += [f"warning: {w}" for w in self.warnings]
        return lines

    @property
    def notes(self) -> list[str]:
        """What was converted on the way (legacy ChatML -> Qwen3 native)."""
        legacy = self.shapes.get("legacy_chatml", 0)
        return [f"converted {legacy} legacy ChatML example(s) (<|user|> ... <|end|>) to Qwen3 native format"] if legacy else []


@dataclass
class _Settings:
    mapping: FieldMapping
    rules: Rules
    dedup_key: list[str] | None
    ratio: float
    system_prompt: str | None
    seed: int
    shares: list[float]
    raw_dir: Path
    split_paths: dict[str, Path | None]
    processed_dir: Path


def _settings(loaded: Any, seed: int | None) -> _Settings:
    ds = loaded.model.training.dataset
    template = loaded.model.base_models[0].prompt_template if loaded.model.base_models else None
    split = ds.split
    shares = [split.train, split.validation, split.test] if split is not None else [0.8, 0.1, 0.1]
    paths = {"train": ds.path, "validation": ds.validation_path, "test": ds.test_path}
    split_paths = {name: (loaded.resolve(p) if p else None) for name, p in paths.items()}
    for name, share in zip(SPLITS, shares, strict=True):
        if share > 0 and split_paths[name] is None:
            key = "path" if name == "train" else f"{name}_path"
            raise DatasetError(f"training.dataset.{key}: not set, but training.dataset.split.{name} is {share:g}",
                               hint=f"set a path for the {name} split or make its share 0")
    return _Settings(
        mapping=FieldMapping.from_manifest(ds.field_mapping, getattr(ds, "input_role", "system") or "system"),
        rules=Rules.from_manifest(ds.validation),
        dedup_key=list(ds.dedup_key) if ds.dedup_key else None,
        ratio=ds.reasoning_ratio if ds.reasoning_ratio is not None else default_ratio(template),
        system_prompt=ds.system_prompt or None,
        seed=ds.seed if seed is None else seed,
        shares=shares,
        raw_dir=loaded.resolve(ds.raw_path),
        split_paths=split_paths,
        processed_dir=split_paths["train"].parent / "processed",
    )


def _call(hooks: PrepareHooks, name: str, record: RawRecord) -> str | None:
    """Run one hook; its failure is a bug in the expert's code, reported with the record it hit."""
    hook = getattr(hooks, name)
    if hook is None:
        return None
    try:
        value = hook(record.data)
    except Exception as exc:  # noqa: BLE001 - any error in user code becomes one clear line
        raise DatasetError(f"{record.where}: the {name} hook raised {type(exc).__name__}: {exc}",
                           hint="fix the hook in preprocess.py (EXPERT_DEBUG=1 shows the traceback)") from exc
    if value is not None and not isinstance(value, str):
        raise DatasetError(f"{record.where}: the {name} hook returned {type(value).__name__}, expected a string or None")
    return value


def _map_one(record: RawRecord, st: _Settings, hooks: PrepareHooks) -> Conversation | str:
    """The record's conversation, or the reason it is rejected."""
    if record.data is None:
        return record.error or "malformed"
    data = record.data
    required = st.rules.required_fields
    if required:
        reason = missing_required(data, required)
        if reason:
            return reason
    try:
        conv = to_conversation(data, st.mapping, st.system_prompt, _call(hooks, "system_prompt", record))
    except RecordError as exc:
        return str(exc)
    reason = check_conversation(conv, st.rules) or _call(hooks, "extra_validation", record)
    if reason:
        return reason
    return conv


def _classify(
    records: list[RawRecord], st: _Settings, hooks: PrepareHooks
) -> tuple[list[tuple[RawRecord, Conversation]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept records with their conversations, rejections, duplicates), in load order."""
    kept: list[tuple[RawRecord, Conversation]] = []
    rejected: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    dedup = Deduplicator(st.dedup_key)
    for record in records:
        outcome = _map_one(record, st, hooks)
        if isinstance(outcome, str):
            entry: dict[str, Any] = {"file": record.file, "line": record.line, "reason": outcome}
            if record.data is None:
                entry["raw"] = record.raw
            else:
                entry["record"] = record.data
            rejected.append(entry)
            continue
        first = dedup.seen(dedup.key(record.data, outcome.key), record.where)
        if first is not None:
            duplicates.append({"file": record.file, "line": record.line, "duplicate_of": first, "record": record.data})
            continue
        kept.append((record, outcome))
    return kept, rejected, duplicates


def _rows(kept: list[tuple[RawRecord, Conversation]], st: _Settings, hooks: PrepareHooks) -> tuple[list[dict], ReasoningMix]:
    reasonings = []
    for record, conv in kept:
        text = _call(hooks, "reasoning", record) if hooks.reasoning else None
        reasonings.append(text.strip() if text and text.strip() else conv.reasoning)
    flags, mix = choose([r is not None for r in reasonings], st.ratio, st.seed)
    rows = []
    for (_, conv), reasoning, think in zip(kept, reasonings, flags, strict=True):
        messages = conv.messages
        if think:
            messages = messages[:-1] + [{"role": "assistant", "content": with_reasoning(conv.answer, reasoning)}]
        rows.append({"text": format_chat(messages), "messages": messages})
    return rows, mix


def prepare(manifest_path: str | Path, *, hooks: PrepareHooks | None = None, skip_invalid: bool = False,
            seed: int | None = None) -> PrepareResult:
    """Prepare the expert's dataset; see the module docstring. Raises DatasetError on bad input."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.manifest.rewrite import update_manifest

    hooks = hooks or PrepareHooks()
    loaded = load_manifest(manifest_path, check_files=False)
    base = loaded.base_dir
    st = _settings(loaded, seed)
    files, ignored = raw_files(st.raw_dir)
    if not files:
        raise DatasetError(f"{display_name(st.raw_dir, base)}: no .jsonl, .json, .csv or .parquet files",
                           hint="put your raw examples there (see the guide's Dataset Creation)")
    records: list[RawRecord] = []
    per_file: dict[str, int] = {}
    for path in files:
        shown = display_name(path, base)
        got = load_file(path, shown)
        per_file[shown] = len(got)
        records += got
    kept, rejected, duplicates = _classify(records, st, hooks)
    rejected_path = st.processed_dir / "rejected.jsonl"
    if rejected and not skip_invalid:
        first = rejected[0]
        more = f"{len(rejected)} invalid record(s) in all; " if len(rejected) > 1 else ""
        raise DatasetError(f"{first['file']}:{first['line']}: {first['reason']}",
                           hint=f"{more}fix the data, or run with --skip-invalid to write rejected records to "
                                f"{display_name(rejected_path, base)} and go on")
    duplicates_path = st.processed_dir / "duplicates.jsonl"
    if not kept:
        atomic.write_jsonl(rejected_path, rejected)
        raise DatasetError(f"no valid examples among {len(records)} loaded",
                           hint=f"see {display_name(rejected_path, base)} for the reasons")
    rows, mix = _rows(kept, st, hooks)
    parts = {name: part for name, part in zip(SPLITS, shuffle_split(rows, st.shares, st.seed), strict=True)
             if st.split_paths[name] is not None}
    sizes = {name: len(part) for name, part in parts.items()}
    shown_paths = {name: display_name(st.split_paths[name], base) for name in parts}
    if len(records) != len(rows) + len(rejected) + len(duplicates):
        raise ExpertError("internal error: loaded records do not add up (please report this)")
    shapes: dict[str, int] = {}
    for _, conv in kept:
        shapes[conv.shape] = shapes.get(conv.shape, 0) + 1
    result = PrepareResult(
        manifest=str(manifest_path), files=per_file, ignored_files=[display_name(p, base) for p in ignored],
        loaded=len(records), written=len(rows), invalid=len(rejected), duplicates=len(duplicates),
        splits=sizes, split_paths=shown_paths, reasoning=mix, shapes=shapes, seed=st.seed,
        rejected_path=display_name(rejected_path, base), duplicates_path=display_name(duplicates_path, base),
        hooks=[name for name in ("system_prompt", "extra_validation", "reasoning") if getattr(hooks, name)],
        warnings=_warnings(len(rows), mix, ignored, base),
    )
    with staging() as stage:
        stage.write_jsonl(rejected_path, rejected)
        stage.write_jsonl(duplicates_path, duplicates)
        digests = {name: stage.write_jsonl(st.split_paths[name], part) for name, part in parts.items()}
        counts = {**result.counts(), DIGESTS_KEY: digests}
        # the splits, the side files and the manifest's record change together or not at all
        stage.commit(lambda: update_manifest(loaded.path, lambda raw: _store_counts(raw, counts)))
    return result


def _warnings(written: int, mix: ReasoningMix, ignored: list[Path], base: Path) -> list[str]:
    out = []
    if written < MIN_EXAMPLES:
        out.append(f"only {written} examples; the guide asks for at least {MIN_EXAMPLES:,} (5,000+ recommended)")
    if mix.with_reasoning < round(mix.target_ratio * written):
        out.append(f"reasoning share {mix.achieved_ratio:.2f} is below the target {mix.target_ratio:.2f}: "
                   f"only {mix.available} examples have reasoning text (a `reasoning` field or the reasoning hook)")
    for path in ignored:
        out.append(f"{display_name(path, base)}: ignored (not .jsonl, .json, .csv or .parquet)")
    return out


def _store_counts(raw: dict[str, Any], counts: dict[str, Any]) -> None:
    from expertkit.manifest.rewrite import set_path

    old = raw.get("training", {}).get("dataset", {}).get("preprocessing") or {}
    # keys we don't write (comments, the reference schema's by_source, task_distribution, ...) stay, in place
    kept = old if isinstance(old, dict) else {}
    set_path(raw, "training.dataset.preprocessing", {**kept, **counts})


def load_hooks(preprocess_py: str | Path) -> PrepareHooks | None:
    """The `HOOKS` object of an expert's preprocess.py (None when the file defines none).

    The file is imported as a module (its `if __name__ == "__main__"` block does not run).
    """
    path = Path(preprocess_py)
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"_expert_preprocess_{abs(hash(str(path.resolve())))}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling in user code look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - user code; one clear line instead of a traceback
        sys.modules.pop(spec.name, None)
        raise DatasetError(f"{path}: cannot load its hooks: {type(exc).__name__}: {exc}",
                           hint="fix preprocess.py, or run with --no-hooks") from exc
    hooks = getattr(module, "HOOKS", None)
    if hooks is None:
        return None
    if not isinstance(hooks, PrepareHooks):
        raise DatasetError(f"{path}: HOOKS must be an expertkit.data.pipeline.PrepareHooks, found {type(hooks).__name__}")
    return hooks
