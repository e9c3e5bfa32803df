"""The expert pool: one base model loaded once, many experts attached to it by name.

``attach`` takes an installed ``NAME[@VERSION]`` (from the registry), an ``.expert`` file or an
adapter directory; LoRA, DoRA, IA3 and prompt-tuning adapters (see `adapter_kinds.py` for what
each is at inference time). Every tensor is checked against the base model's modules before
anything is loaded: an adapter for another model is refused at attach time, not mid-request.
``detach`` frees an expert; with ``max_experts`` or ``max_bytes`` set, attaching evicts the least
recently used experts first. ``max_bytes`` covers all that is held for experts: tensors here (PEFT's
copy), each mirror backend's (the decoder's) and its cached merged weights, which are shed first
(rebuilt on next use) and may use only what the budget leaves (`decoder_merged.py`). Memory per
expert is measured: those bytes, and the resident-set growth across the attach (Linux).

``activate(chain)`` is the context a backend runs in: the chain's LoRA/DoRA adapters active in
PEFT with their weights, its IA3 vectors applied, its soft prompts returned for prepending.
Switching chains only flips which adapters are active (no weights move), so swaps are cheap.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertkit.errors import CompositionError, UsageError
from expertkit.runtime.adapter_kinds import IA3Hooks, check_fit, ia3_links, ia3_vectors, read_adapter
from expertkit.runtime.adapter_source import AdapterSource, open_adapter
from expertkit.runtime.compose import ExpertInfo, info_from_manifest

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in a mixed batch
Key = tuple[tuple[str, float], ...]


@dataclass
class AttachedExpert:
    name: str
    version: str
    kind: str
    origin: str
    param_bytes: int  # bytes of the expert's loaded tensors
    rss_delta_bytes: int | None  # resident-set growth across the attach; None off Linux
    attach_ms: float
    info: ExpertInfo
    settings: Any = None  # DecodingSettings of its manifest, None without one
    system_prompt: str | None = None
    modules_to_save: tuple[str, ...] = ()
    ia3: dict[Any, tuple[Any, bool]] | None = None
    soft_prompt: Any = None
    source: AdapterSource | None = field(default=None, repr=False)
    owns_source: bool = False
    in_peft: bool = False  # a LoRA/DoRA adapter loaded into the PeftModel (lazily, with `lazy_peft`)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, "origin": self.origin,
                "param_mb": _mb(self.param_bytes),
                "rss_mb": None if self.rss_delta_bytes is None else round(self.rss_delta_bytes / 2**20, 3),
                "attach_ms": round(self.attach_ms, 1), "in_peft": self.in_peft}


class ExpertPool:
    """Experts on one base model (a `LoadedBase`); see the module doc."""

    def __init__(self, base: Any, *, max_experts: int | None = None, max_bytes: int | None = None) -> None:
        self.base = base
        self.bare = base.model  # the unwrapped causal LM
        self.peft: Any = None  # PeftModel holding the LoRA/DoRA adapters, once one is attached
        self.lazy_peft = False  # LoRA/DoRA into PEFT only when the HF backend first runs them (a decoder mirrors all)
        self.max_experts = max_experts
        self.max_bytes = max_bytes
        self._experts: OrderedDict[str, AttachedExpert] = OrderedDict()  # least recently used first
        self._hooks = IA3Hooks()
        self._wrappers: dict[int, Any] | None = None  # base linear -> its PEFT wrapper (rebuilt when PEFT changes)
        self._active: list[str] = []  # the LoRA/DoRA adapters PEFT has active now
        self.mirrors: list[Any] = []  # other backends holding the same experts (a `Decoder`'s API)

    # -- what is attached -----------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The model to run: the PEFT wrapper once a LoRA-family adapter is attached, else the base."""
        return self.peft if self.peft is not None else self.bare

    def __contains__(self, name: str) -> bool:
        return name in self._experts

    def get(self, name: str) -> AttachedExpert:
        if name not in self._experts:
            raise UsageError(f"expert {name!r} is not attached (attached: {', '.join(self._experts) or 'none'})")
        return self._experts[name]

    def experts(self) -> list[AttachedExpert]:
        return list(self._experts.values())

    def memory(self) -> dict[str, Any]:
        """Per expert: its tensors (``param_mb``), the mirror backends' copies and merged weights; totals."""
        experts = []
        for e in self._experts.values():
            mine = [m for m in self.mirrors if e.name in m.experts]
            merged = sum(m.merged.bytes_of(((e.name, 1.0),)) for m in mine)
            experts.append({**e.to_dict(), "backend_mb": _mb(sum(m.memory_bytes(e.name) for m in mine) - merged), "merged_mb": _mb(merged)})
        return {"experts": experts, "total_param_mb": _mb(sum(e.param_bytes for e in self._experts.values())),
                "total_merged_mb": _mb(sum(m.merged.total() for m in self.mirrors)), "total_mb": _mb(self.used_bytes()),
                "budget_mb": None if self.max_bytes is None else _mb(self.max_bytes)}

    def used_bytes(self, merged: bool = True) -> int:
        """Bytes held for experts against ``max_bytes`` (without the merged weights: ``merged=False``)."""
        own = sum(e.param_bytes for e in self._experts.values() if e.in_peft or e.kind not in ("lora", "dora"))
        held = sum(m.held_bytes() - (0 if merged else m.merged.total()) for m in self.mirrors)
        return own + held

    # -- attach / detach -------------------------------------------------------------------
    def attach(self, what: str | Path | AdapterSource, *, name: str | None = None, info: ExpertInfo | None = None,
               settings: Any = None, system_prompt: str | None = None) -> AttachedExpert:
        """Attach an installed NAME[@VERSION], a .expert file, a directory or an open AdapterSource."""
        owns = not isinstance(what, AdapterSource)
        source = what if isinstance(what, AdapterSource) else open_adapter(_locate(what))
        try:
            if info is None and (source.path / "manifest.json").is_file():
                info, settings, system_prompt = _describe_dir(source.path, source)
            name = name or (info.name if info else source.origin.name)
            info = info or ExpertInfo(name, "0")
            if name in self._experts:
                raise UsageError(f"an expert named {name!r} is already attached", hint="detach it first")
            return self._load(source, name, info, settings, system_prompt, owns)
        except BaseException:
            if owns:
                source.close()
            raise

    def _load(self, source: AdapterSource, name: str, info: ExpertInfo, settings: Any, system_prompt: str | None,
              owns: bool) -> AttachedExpert:
        started, rss = time.perf_counter(), _rss_bytes()
        files = read_adapter(source.path, str(source.origin))
        check_fit(files, self.bare, str(source.origin), self.base.resolved.name)
        self._make_room(files.param_bytes, name)
        expert = AttachedExpert(name, info.version, files.kind, str(source.origin), files.param_bytes, None, 0.0, info,
                                settings, system_prompt, files.modules_to_save, source=source, owns_source=owns)
        if files.kind in ("lora", "dora"):
            if not self.lazy_peft:
                self._load_peft(source, name)
                expert.in_peft = True
        elif files.kind == "ia3":
            expert.ia3 = ia3_vectors(files, self.bare)
        else:
            embeds = self.bare.get_input_embeddings().weight
            expert.soft_prompt = files.tensors["prompt_embeddings"].to(embeds.device, embeds.dtype)
        after = _rss_bytes()
        expert.rss_delta_bytes = None if rss is None or after is None else max(0, after - rss)
        for mirror in self.mirrors:
            mirror.attach(name, source.path)
        expert.attach_ms = (time.perf_counter() - started) * 1000
        self._experts[name] = expert
        self._share_budget()
        return expert

    def _load_peft(self, source: AdapterSource, name: str) -> None:
        from peft import PeftModel

        try:
            self._active, self._wrappers = [], None  # loading may change PEFT's active adapter and its wrappers
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.bare, str(source.path), adapter_name=name, is_trainable=False)
                self.peft.eval()
            else:
                self.peft.load_adapter(str(source.path), adapter_name=name, is_trainable=False)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            if self.peft is not None and name in self.peft.peft_config:
                self._drop_peft(name)
            raise CompositionError(f"adapter {source.origin} does not fit base model {self.base.resolved.name}: {exc}",
                                   hint="attach the adapter to the base model it was trained on") from None

    def _drop_peft(self, name: str) -> None:
        self._active, self._wrappers = [], None  # PEFT picks another active adapter itself
        if len(self.peft.peft_config) > 1:
            self.peft.delete_adapter(name)
        else:  # the last LoRA adapter: take the wrapper layers out again
            self.bare = self.peft.unload()
            self.peft = None

    def detach(self, name: str) -> None:
        expert = self.get(name)
        if expert.in_peft:
            self._drop_peft(name)
        for mirror in self.mirrors:
            mirror.detach(name)
        del self._experts[name]
        if expert.owns_source and expert.source is not None:
            expert.source.close()
        self._share_budget()

    def _make_room(self, new_bytes: int, name: str) -> None:
        need = new_bytes * (len(self.mirrors) + (not self.lazy_peft))  # PEFT's copy, each mirror backend's (as big)
        if self.max_bytes is not None and need > self.max_bytes:
            raise CompositionError(f"expert {name} needs {need / 2**20:.1f} MB, more than the pool's whole budget "
                                   f"({self.max_bytes / 2**20:.1f} MB)", hint="raise the memory budget")

        def over() -> bool:
            return self.max_bytes is not None and self.used_bytes() + need > self.max_bytes

        while over() and any(m.merged.shed() for m in self.mirrors):
            pass  # merged weights go first: rebuilt on the next use, an evicted expert is not
        while self._experts and ((self.max_experts is not None and len(self._experts) >= self.max_experts) or over()):
            self.detach(next(iter(self._experts)))  # least recently used

    def _share_budget(self) -> None:
        """Give the mirrors' merged caches what ``max_bytes`` leaves after the experts' tensors."""
        left = None if self.max_bytes is None else max(0, self.max_bytes - self.used_bytes(merged=False))
        for mirror in self.mirrors:
            mirror.merged.set_budget(left)

    def close(self) -> None:
        for name in list(self._experts):
            expert = self._experts.pop(name)
            if expert.owns_source and expert.source is not None:
                expert.source.close()

    # -- for the resolver --------------------------------------------------------------------
    def lookup(self, name: str, spec: str | None) -> ExpertInfo | None:
        """An attached expert that satisfies ``spec``, else the installed version that does."""
        from expertkit.registry.versions import parse_requirement

        req = parse_requirement(f"{name}@{spec}" if spec else name)
        if name in self._experts and req.allows(self._experts[name].info.version):
            return self._experts[name].info
        return installed_lookup(name, spec)

    def ensure(self, chain: Any) -> None:
        """Attach the chain's experts that are installed but not attached yet (its exact versions)."""
        for link in chain.links:
            if link.name not in self._experts:
                self.attach(f"{link.name}@{link.version}")

    # -- running a chain -----------------------------------------------------------------------
    def check(self, key: Key) -> None:
        """Raise CompositionError when ``key``'s experts can't run together (see compose's doc)."""
        saved: dict[str, str] = {}
        for name, weight in key:
            expert = self.get(name)
            if weight != 1.0 and expert.kind in ("ia3", "prompt_tuning"):
                raise CompositionError(f"{name} is a {expert.kind} expert: a weight ({weight}) has no meaning for it",
                                       hint="weights apply to LoRA and DoRA experts; drop the :weight")
            for module in expert.modules_to_save:
                if module in saved:
                    raise CompositionError(f"{saved[module]} and {name} both replace module {module!r} (modules_to_save): "
                                           "they can't be composed", hint="use them in separate requests")
                saved[module] = name

    @contextmanager
    def activate(self, key: Key) -> Iterator[Any]:
        """Run inside with ``key``'s experts applied; yields the soft prompt to prepend (or None)."""
        self.check(key)
        experts = [self._experts[name] for name, _ in key]
        for expert in experts:
            self._experts.move_to_end(expert.name)  # recently used
        self._into_peft(experts)
        lora = [(e.name, w) for e, (_, w) in zip(experts, key, strict=True) if e.kind in ("lora", "dora")]
        prompts = [e.soft_prompt for e in experts if e.soft_prompt is not None]
        with self._peft_active(lora), self._hooks.applied(ia3_links(experts), self._wrapper):
            yield _concat(prompts)

    def _wrapper(self, module: Any) -> Any:
        """The PEFT layer wrapping base linear ``module`` (the module itself when none does)."""
        if self.peft is None:
            return module
        from peft.tuners.lora import LoraLayer

        if self._wrappers is None:
            self._wrappers = {id(m.get_base_layer()): m for m in self.peft.modules() if isinstance(m, LoraLayer)}
        return self._wrappers.get(id(module), module)

    @contextmanager
    def _peft_active(self, lora: list[tuple[str, float]]) -> Iterator[None]:
        if self.peft is None:
            yield
            return
        if not lora:
            with self.peft.disable_adapter():
                yield
            return
        names = [name for name, _ in lora]
        if names != self._active:  # PEFT walks every module to switch: skip it when nothing changes
            self.peft.base_model.set_adapter(names, inference_mode=True)
            self._active = names
        weighted = [(n, w) for n, w in lora if w != 1.0]
        self._set_scales(weighted)
        try:
            yield
        finally:
            self._set_scales([(n, 1.0) for n, _ in weighted])

    def _set_scales(self, weights: Sequence[tuple[str, float]]) -> None:
        if not weights:
            return
        from peft.tuners.lora import LoraLayer

        for module in self.peft.modules():
            if isinstance(module, LoraLayer):
                for name, weight in weights:
                    module.set_scale(name, weight)

    def mixable(self, key: Key) -> bool:
        """Can rows with this chain share a batch with rows of other single LoRA experts?"""
        if self.peft is None:
            return False
        return not key or (len(key) == 1 and key[0][1] == 1.0 and self._experts[key[0][0]].kind == "lora")

    def mixed_batch_names(self, keys: Sequence[Key]) -> list[str] | None:
        """PEFT ``adapter_names`` for one batch of rows with different single LoRA experts, or None
        when PEFT can't run these rows together (DoRA, IA3, soft prompts, weights, compositions)."""
        if len(set(keys)) < 2:
            return None
        self._into_peft([self._experts[name] for key in keys for name, _ in key])
        if self.peft is None or not all(self.mixable(key) for key in keys):
            return None
        names = [key[0][0] if key else BASE_ROW for key in keys]
        for name in set(names) - {BASE_ROW}:
            self._experts.move_to_end(name)
        return names

    def _into_peft(self, experts: list[AttachedExpert]) -> None:
        """Load LoRA/DoRA experts attached lazily into PEFT now (the HF backend is about to run them)."""
        for expert in experts:
            if expert.kind in ("lora", "dora") and not expert.in_peft and expert.source is not None:
                self._load_peft(expert.source, expert.name)
                expert.in_peft = True
                self._share_budget()


def _mb(nbytes: int) -> float:
    return round(nbytes / 2**20, 3)


def _concat(prompts: list[Any]) -> Any:
    import torch

    return torch.cat(prompts, dim=0) if prompts else None


def _locate(what: str | Path) -> Path:
    """A path as given, or the installed directory of NAME[@VERSION]."""
    path = Path(what).expanduser()
    if path.exists() or isinstance(what, Path) or "/" in str(what) or str(what).endswith(".expert"):
        return path
    return installed_dir(str(what))


def installed_dir(spec: str) -> Path:
    """The installed version directory of ``NAME[@VERSION]`` (the current version when none is given)."""
    from expertkit.registry.versions import parse_requirement
    from expertkit.runtime.compose import parse_spec

    [want] = parse_spec(spec)
    req = parse_requirement(f"{want.name}@{want.requirement}" if want.requirement else want.name)
    found = _installed(want.name, req)
    if found is None:
        raise CompositionError(f"{spec} is not installed", hint=f"install it (expert-cli install {want.name}-<model>.v<version>.expert)")
    return found


def installed_lookup(name: str, spec: str | None) -> ExpertInfo | None:
    """The resolver's lookup over installed experts alone (no pool): the version satisfying ``spec``."""
    from expertkit.registry.versions import parse_requirement

    found = _installed(name, parse_requirement(f"{name}@{spec}" if spec else name))
    return None if found is None else _describe_dir(found)[0]


def _installed(name: str, req: Any) -> Path | None:
    """The installed version directory of ``name`` satisfying ``req``: the current one first, else the newest."""
    from expertkit.registry.store import read_registry, version_dir
    from expertkit.registry.versions import version_key

    entry = read_registry()["experts"].get(name) or {}
    versions = sorted(entry.get("versions") or {}, key=lambda v: (v == entry.get("current"), version_key(v)), reverse=True)
    chosen = next((v for v in versions if req.allows(v)), None)
    return None if chosen is None else version_dir(name, chosen)


def _describe_dir(directory: Path, source: AdapterSource | None = None) -> tuple[ExpertInfo, Any, str | None]:
    """(constraints, decoding settings, system prompt) from the manifest.json in ``directory``."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.settings import expert_settings

    loaded = load_manifest(directory / "manifest.json")
    m = loaded.model
    info = info_from_manifest(m)
    return info, expert_settings(loaded, source), m.training.dataset.system_prompt


def _rss_bytes() -> int | None:
    try:
        import os

        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
