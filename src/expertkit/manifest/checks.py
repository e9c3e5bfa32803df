"""Rules beyond types: ranges, cross-field rules and files, each with a message that says what
was found and what is expected (`training.config.rank: 0 is not allowed (DoRA: use 12-16)`)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from expertkit.manifest.layout import grammar_path
from expertkit.manifest.model import (
    NAME_PATTERN,
    PAIR_KEYS,
    RECORD_KEYS,
    SEMVER_PATTERN,
    GrammarSlotSpec,
    Manifest,
    TrainingConfig,
)
from expertkit.manifest.problems import Problem

CAPABILITY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*:\S.*$")
RULE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
REQUIRE_PATTERN = re.compile(r"^(?P<name>[^@\s]+)(?:@(?P<spec>.+))?$")
# how a reference .pt/.bin soft prompt becomes safetensors without running its pickle code
SOFT_PROMPT_CONVERSION = (
    "python -c \"import sys, torch; from safetensors.torch import save_file; "
    "t = torch.load(sys.argv[1], weights_only=True); "
    "save_file(t if isinstance(t, dict) else {'prompt_embeddings': t}, sys.argv[2])\" IN.pt OUT.safetensors"
)
RANK_ADVICE = {"dora": "DoRA: use 12-16", "lora": "LoRA: use 16-32"}
# the guide's load_order bands, by the kind of expert
LOAD_ORDER_BANDS = {"foundation": (1, 3), "format": (4, 5), "technology": (6, 7), "task": (8, 10)}


def semantic_problems(m: Manifest, base_dir: Path | None) -> list[Problem]:
    """Every rule below, in manifest order. ``base_dir`` None skips file checks."""
    problems = _identity(m) + _adapter_config(m) + _constraints(m) + _capabilities(m) + _dataset(m)
    if base_dir is not None:
        problems += _files(m, base_dir)
    return problems


def identity_format_problems(name: str | None, version: str | None) -> list[Problem]:
    """The name and version rules (None skips one)."""
    out = []
    if name is not None and not re.fullmatch(NAME_PATTERN, name):
        out.append(Problem("name", f"{name!r} is not allowed (expected `expert-<name>`: lower case letters, digits and dashes)"))
    if version is not None and not re.fullmatch(SEMVER_PATTERN, version):
        out.append(Problem("version", f"{version!r} is not a semantic version (expected e.g. 0.1.0)"))
    return out


def _identity(m: Manifest) -> list[Problem]:
    out = identity_format_problems(m.name, m.version)
    if not m.base_models:
        out.append(Problem("base_models", "empty (expected at least one base model)"))
    for i, bm in enumerate(m.base_models):
        if not bm.name.strip():
            out.append(Problem(f"base_models[{i}].name", "empty (expected an alias such as smollm2-135m-instruct or a model directory)"))
        if bm.sha256 and not re.fullmatch(r"[0-9a-f]{64}", bm.sha256):
            out.append(Problem(f"base_models[{i}].sha256", f"{bm.sha256!r} is not a sha256 hex digest (64 hex digits, or empty)"))
    return out


def _adapter_config(m: Manifest) -> list[Problem]:
    c = m.training.config
    p = "training.config"
    out = []
    if c.adapter_type == "ia3":
        for key in ("rank", "alpha"):
            if getattr(c, key) is not None:
                out.append(Problem(f"{p}.{key}", f"not allowed for ia3 (ia3 learns scaling vectors, it has no {key}); remove it"))
    else:
        advice = RANK_ADVICE[c.adapter_type]
        if c.rank is None:
            out.append(Problem(f"{p}.rank", f"missing ({advice})"))
        elif c.rank <= 0:
            out.append(Problem(f"{p}.rank", f"{c.rank} is not allowed ({advice})"))
        if c.alpha is not None and c.alpha <= 0:
            out.append(Problem(f"{p}.alpha", f"{c.alpha} is not allowed (expected > 0, usually 2 x rank)"))
        elif c.rank and c.alpha is not None and c.alpha != 2 * c.rank:
            out.append(Problem(f"{p}.alpha", f"{c.alpha:g} is not 2 x rank ({2 * c.rank}); fine if intended", "warning"))
    if not c.target_modules:
        out.append(Problem(f"{p}.target_modules", "empty (expected module names such as q_proj, v_proj)"))
    for i, module in enumerate(c.target_modules):
        if not module.strip():
            out.append(Problem(f"{p}.target_modules[{i}]", "empty (expected a module name such as q_proj)"))
    out += _feedforward(c, p)
    positive = {"epochs": c.epochs, "learning_rate": c.learning_rate, "batch_size": c.batch_size,
                "gradient_accumulation_steps": c.gradient_accumulation_steps, "max_seq_length": c.max_seq_length,
                "save_steps": c.save_steps, "logging_steps": c.logging_steps}
    for key, value in positive.items():
        if value <= 0:
            out.append(Problem(f"{p}.{key}", f"{value:g} is not allowed (expected > 0)"))
    if c.max_steps is not None and c.max_steps < 0:
        out.append(Problem(f"{p}.max_steps", f"{c.max_steps} is not allowed (expected > 0, or 0 / omitted to use epochs)"))
    if c.warmup_steps is not None and c.warmup_steps < 0:
        out.append(Problem(f"{p}.warmup_steps", f"{c.warmup_steps} is not allowed (expected >= 0)"))
    if c.warmup_ratio is not None and not 0 <= c.warmup_ratio < 1:
        out.append(Problem(f"{p}.warmup_ratio", f"{c.warmup_ratio:g} is not allowed (expected 0 <= ratio < 1)"))
    elif c.warmup_ratio and c.warmup_steps:
        out.append(Problem(f"{p}.warmup_steps", f"{c.warmup_steps} wins over warmup_ratio {c.warmup_ratio:g} (set warmup_steps to 0 to use the ratio)", "warning"))
    if not 0 <= c.dropout < 1:
        out.append(Problem(f"{p}.dropout", f"{c.dropout:g} is not allowed (expected 0 <= dropout < 1)"))
    if c.load_best_model_at_end and c.evaluation_strategy == "no":
        out.append(Problem(f"{p}.load_best_model_at_end", "needs evaluation_strategy steps or epoch (nothing to pick the best by)"))
    return out + _decoding(m)


def _decoding(m: Manifest) -> list[Problem]:
    d = m.training.decoding
    rules = [
        ("temperature", d.temperature, d.temperature >= 0, ">= 0; 0 = greedy"),
        ("top_p", d.top_p, 0 < d.top_p <= 1, "0 < top_p <= 1"),
        ("top_k", d.top_k, d.top_k >= 0, ">= 0; 0 = off"),
        ("min_p", d.min_p, 0 <= d.min_p <= 1, "0-1; 0 = off"),
        ("max_new_tokens", d.max_new_tokens, d.max_new_tokens > 0, "> 0"),
    ]
    out = [Problem(f"training.decoding.{key}", f"{value:g} is not allowed (expected {expected})") for key, value, ok, expected in rules if not ok]
    if d.reasoning_rule is not None and not RULE_NAME.match(d.reasoning_rule):
        out.append(Problem("training.decoding.reasoning_rule", f"{d.reasoning_rule!r} is not a grammar rule name (letters, digits, _ and -)"))
    for rule, slot in d.grammar_slots.items():
        if not RULE_NAME.match(rule):
            out.append(Problem(f"training.decoding.grammar_slots.{rule}", "is not a grammar rule name (letters, digits, _ and -)"))
        if slot.copy_from and slot.kind != "json_schema":
            out.append(Problem(f"training.decoding.grammar_slots.{rule}.copy_from", "only applies to a json_schema slot"))
        if slot.kind in ("values", "records", "record_pairs") and not slot.pattern:
            out.append(Problem(f"training.decoding.grammar_slots.{rule}.pattern", f"is required for a {slot.kind} slot (a regular expression)"))
        out += _slot_bind_problems(rule, slot)
        try:
            re.compile(slot.pattern or "")
        except re.error as exc:
            out.append(Problem(f"training.decoding.grammar_slots.{rule}.pattern", f"is not a regular expression: {exc}"))
    return out


def _slot_bind_problems(rule: str, slot: GrammarSlotSpec) -> list[Problem]:
    """bind/names_from only on records kinds, with the keys that kind has; template only on values."""
    where = f"training.decoding.grammar_slots.{rule}"
    keys = {"records": RECORD_KEYS, "record_pairs": PAIR_KEYS}.get(slot.kind)
    out = []
    if keys is None and (slot.bind or slot.names_from):
        out.append(Problem(f"{where}.bind", "bind and names_from only apply to a records or record_pairs slot"))
    elif keys is not None and not slot.bind:
        out.append(Problem(f"{where}.bind", f"is required for a {slot.kind} slot (record key -> rule; keys: {', '.join(keys)})"))
    for key in slot.bind if keys is not None else ():
        if key not in keys:
            out.append(Problem(f"{where}.bind.{key}", f"is not a key of a {slot.kind} slot (expected one of: {', '.join(keys)})"))
    if slot.template and slot.kind != "values":
        out.append(Problem(f"{where}.template", "only applies to a values slot"))
    return out


def _feedforward(c: TrainingConfig, p: str) -> list[Problem]:
    """ia3's feedforward_modules must be a subset of target_modules (PEFT refuses otherwise)."""
    if c.feedforward_modules is None:
        return []
    if c.adapter_type != "ia3":
        return [Problem(f"{p}.feedforward_modules", f"ignored: only ia3 uses it (adapter_type is {c.adapter_type})", "warning")]
    extra = [mod for mod in c.feedforward_modules if mod not in c.target_modules]
    if extra:
        return [Problem(f"{p}.feedforward_modules", f"{', '.join(extra)} not in target_modules (expected a subset of target_modules)")]
    return []


def _constraints(m: Manifest) -> list[Problem]:
    c = m.constraints
    out = []
    if c.load_order is not None:
        if not 1 <= c.load_order <= 10:
            out.append(Problem("constraints.load_order", f"{c.load_order} is not allowed (expected 1-10: foundation 1-3, format 4-5, technology 6-7, task 8-10)"))
        else:
            kinds = {cap.split(":", 1)[1].strip().lower() for cap in m.capabilities if cap.startswith("kind:")}
            for kind in kinds & LOAD_ORDER_BANDS.keys():
                lo, hi = LOAD_ORDER_BANDS[kind]
                if not lo <= c.load_order <= hi:
                    out.append(Problem("constraints.load_order", f"{c.load_order} is outside the {kind} band {lo}-{hi}", "warning"))
    if c.max_chain is not None and c.max_chain < 1:
        out.append(Problem("constraints.max_chain", f"{c.max_chain} is not allowed (expected >= 1)"))
    required = set()
    for i, req in enumerate(c.requires):
        match = REQUIRE_PATTERN.match(req.strip())
        name = match.group("name") if match else req
        path = f"constraints.requires[{i}]"
        if not match or not re.fullmatch(NAME_PATTERN, name):
            out.append(Problem(path, f"{req!r} is not `expert-<name>` or `expert-<name>@<version spec>`"))
            continue
        if match.group("spec"):
            try:
                SpecifierSet(match.group("spec"))
            except InvalidSpecifier:
                out.append(Problem(path, f"{match.group('spec')!r} is not a version spec (expected e.g. >=0.2,<1)"))
        if name == m.name:
            out.append(Problem(path, "an expert cannot require itself"))
        required.add(name)
    for i, other in enumerate(c.incompatible_with):
        path = f"constraints.incompatible_with[{i}]"
        if not re.fullmatch(NAME_PATTERN, other):
            out.append(Problem(path, f"{other!r} is not an expert name (expected `expert-<name>`)"))
        elif other == m.name:
            out.append(Problem(path, "an expert cannot be incompatible with itself"))
        elif other in required:
            out.append(Problem(path, f"{other} is both required and incompatible"))
    return out


def _capabilities(m: Manifest) -> list[Problem]:
    return [
        Problem(f"capabilities[{i}]", f"{cap!r} has no `prefix:` (recommended: task:sql_generation, language:en, ...)", "warning")
        for i, cap in enumerate(m.capabilities)
        if not CAPABILITY_PATTERN.match(cap)
    ]


def _dataset(m: Manifest) -> list[Problem]:
    d = m.training.dataset
    out = []
    if d.split is not None:
        total = d.split.train + d.split.validation + d.split.test
        if abs(total - 1.0) > 1e-6 or min(d.split.train, d.split.validation, d.split.test) < 0:
            out.append(Problem("training.dataset.split", f"shares sum to {total:g} (expected non-negative shares summing to 1)"))
    if d.reasoning_ratio is not None and not 0 <= d.reasoning_ratio <= 1:
        out.append(Problem("training.dataset.reasoning_ratio", f"{d.reasoning_ratio:g} is not allowed (expected 0-1)"))
    v = d.validation
    if v and v.min_length is not None and v.max_length is not None and v.min_length > v.max_length:
        out.append(Problem("training.dataset.validation", f"min_length {v.min_length} > max_length {v.max_length}"))
    return out


def _exists(base: Path, rel: str, *, file_only: bool = False) -> bool:
    """Whether ``rel`` (relative to the manifest) exists; an unusable name (NUL, too long) doesn't."""
    try:
        target = base / rel
        return target.is_file() if file_only else target.exists()
    except (OSError, ValueError):
        return False


def _files(m: Manifest, base: Path) -> list[Problem]:
    """Files the manifest names, relative to it. Datasets (made by `dataset prepare`) and adapters
    (made by `train`, which must run on a manifest that already lists them) only warn when missing;
    grammar and soft prompt files must exist. `package` refuses a missing adapter on its own."""
    out = []
    d = m.training.dataset
    for key in ("path", "validation_path", "test_path"):
        rel = getattr(d, key)
        if rel and not _exists(base, rel):
            out.append(Problem(f"training.dataset.{key}", f"{rel} does not exist yet (run `expert-cli dataset prepare`)", "warning"))
    dec = m.training.decoding
    if dec.grammar_file and not _exists(base, dec.grammar_file, file_only=True):
        out.append(Problem("training.decoding.grammar_file", f"{dec.grammar_file} not found (expected a GBNF file, relative to the manifest)"))
    elif dec.use_grammar and grammar_path(m, base) is None:
        out.append(Problem("training.decoding.use_grammar", "true, but there is no grammar.gbnf beside the manifest and no grammar_file"))
    for i, sp in enumerate(m.soft_prompts):
        if sp.path and not _exists(base, sp.path):
            out.append(Problem(f"soft_prompts[{i}].path", f"{sp.path} not found yet (run `expert-cli train --soft-prompt {sp.name}`, or fix the path)", "warning"))
        elif sp.path and Path(sp.path).suffix.lower() in (".pt", ".bin", ".pth"):
            out.append(Problem(f"soft_prompts[{i}].path", f"{sp.path} is a pickle file, which is never loaded; convert it: "
                               f"{SOFT_PROMPT_CONVERSION}", "warning"))
    for i, bm in enumerate(m.base_models):
        for j, ad in enumerate(bm.adapters):
            if ad.path and not _exists(base, ad.path):
                out.append(Problem(f"base_models[{i}].adapters[{j}].path", f"{ad.path} not found yet (run `expert-cli train`, or fix the path)", "warning"))
    return out
