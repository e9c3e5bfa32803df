"""expertkit: build, test, package, sign and install small PEFT "experts" on one base model.

The Python SDK: ``from expertkit import Runtime, Expert`` (see `expertkit.sdk`). Both are imported
on first use, so ``import expertkit`` (and the CLI's ``--help``) stays fast and never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Completion", "Expert", "Runtime", "__version__"]

if TYPE_CHECKING:
    from expertkit.sdk import Completion, Expert, Runtime


def __getattr__(name: str) -> Any:
    if name in ("Runtime", "Expert", "Completion"):
        from expertkit import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'expertkit' has no attribute {name!r}")
