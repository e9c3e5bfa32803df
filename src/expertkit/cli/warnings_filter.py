"""Library warnings as the CLI shows them: `warning: <message>` on stderr, without the noise.

transformers, torch, PEFT and TRL emit FutureWarning/DeprecationWarning chatter about their own
internals on every run; it is not something the user can act on, so the CLI drops it (set
EXPERT_DEBUG=1 to see everything as Python prints it).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

NOISY = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)


def _show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def quiet_warnings() -> None:
    from expertkit.cli.errors import debug_enabled

    if debug_enabled():
        return
    for category in NOISY:
        warnings.filterwarnings("ignore", category=category)
    warnings.showwarning = _show
