"""Option types shared by several commands, each documented once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ManifestOpt = Annotated[
    Path, typer.Option("--manifest", "-m", help="Path to the expert's manifest.json.", show_default=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Which of the manifest's base_models to use (name or slug; default: the first).")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
BackendOpt = Annotated[
    str, typer.Option("--backend", help="decoder (fast, default; falls back to hf where it can't) or hf (transformers + PEFT).")
]
SystemOpt = Annotated[str | None, typer.Option("--system", help="System message (e.g. the schema); default: the expert's.")]
# min 1: a budget of 0 tokens is refused at parse time, not read as "the manifest's" or as nothing
MaxNewTokensOpt = Annotated[
    int | None, typer.Option("--max-new-tokens", min=1, help="Override training.decoding.max_new_tokens.")
]
# numpy and torch take seeds below 2**32: a bigger one is refused here, not silently wrapped
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, max=2**32 - 1, help="Random seed (default: from the manifest).")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, envvar="EXPERT_THREADS",
                 help="CPU threads for torch (default: torch's choice, every core; on a shared machine fewer is faster)."),
]


def use_threads(threads: int | None) -> None:
    """Apply --threads / EXPERT_THREADS before any model work (intra-op and inter-op pools)."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already fixed once parallel work ran in this process (tests, a second command)
        pass
