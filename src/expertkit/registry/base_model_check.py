"""Install-time check that an expert's base model is here and is the one it was trained on.

The base model must resolve locally (`expertkit.models.resolve.resolve_model`, without
converting anything) and, when the package records `base_models[0].sha256`, its weights digest
(`expertkit.models.digest.model_digest`, the models layer's one definition) must match.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from expertkit.errors import EnvironmentProblem, ExpertError, IntegrityError

FORCE_HINT = "or pass --ignore-base-model to install anyway (the expert may not load or may behave differently)"


@dataclass(frozen=True)
class BaseModelStatus:
    name: str
    path: str
    digest_checked: bool
    warning: str | None = None


def _digest(path) -> str:
    # the one call into the models layer's digest definition (see module docstring)
    try:
        from expertkit.models.digest import model_digest
    except ImportError as exc:  # the models layer may not be installed in a trimmed build
        raise EnvironmentProblem(f"cannot compute base-model digests: {exc}") from None
    return model_digest(path)


def check_base_model(name: str, recorded_sha256: str | None) -> BaseModelStatus:
    """Raise EnvironmentProblem (model not here) or IntegrityError (different weights), each with the fix."""
    from expertkit.models.resolve import resolve_model

    try:
        resolved = resolve_model(name, prepare=False)
    except ExpertError as exc:
        raise EnvironmentProblem(
            f"base model {name!r} is not available locally: {exc.message}",
            hint=f"{exc.hint or 'prepare or import it (`expert-cli models list`)'}; {FORCE_HINT}",
        ) from None
    if not recorded_sha256:
        return BaseModelStatus(name, str(resolved.path), False, f"base model {name!r}: no sha256 recorded, weights not checked")
    got = _digest(resolved.path)
    if got != recorded_sha256.lower().removeprefix("sha256:"):
        raise IntegrityError(
            f"base model {name!r} at {resolved.path} has weights digest {got[:16]}..., the expert was built for {recorded_sha256[:16]}...",
            hint=f"import the exact model the expert was trained on (`expert-cli models import PATH --name {shlex.quote(name)}`), {FORCE_HINT}",
        )
    return BaseModelStatus(name, str(resolved.path), True)
