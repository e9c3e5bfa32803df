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
# numpy and torch take seeds below 2**32: a bigger one is refused here, not silently wrapped
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, max=2**32 - 1, help="Random seed (default: from the manifest).")]
