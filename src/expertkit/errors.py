"""One exception hierarchy for the whole library.

The library never prints or exits: it raises one of these, and ``expertkit.cli.errors`` turns
it into a one-line message and an exit code. Each error carries what the user needs to fix it:
``hint`` is the next step ("run `expert-cli keygen` first"), ``exit_code`` follows DESIGN.md
(1 negative result, 2 bad input, 3 environment). ``param`` names the input at fault in the
library's terms ("model"); each front end says it its own way (the CLI as ``--model``).
"""

from __future__ import annotations


class ExpertError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.param = param


class UsageError(ExpertError):
    """Flags or arguments that don't fit together."""


class ValidationError(ExpertError):
    """User data (manifest, dataset, test cases, grammar) is invalid.

    ``problems`` lists every problem found (validate reports all at once).
    """

    def __init__(self, message: str, *, problems: list | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class ManifestError(ValidationError):
    """manifest.json cannot be read or does not validate."""


class DatasetError(ValidationError):
    """A dataset file is missing, malformed or unusable."""


class GrammarError(ValidationError):
    """A GBNF grammar does not compile."""


class TestCaseError(ValidationError):
    """tests/test_cases.json is malformed (the message names the case id)."""


class TrainingError(ExpertError):
    """Training cannot start or continue with what was given."""


class PackageError(ExpertError):
    """A .expert package cannot be built or read."""


class IntegrityError(ExpertError):
    """A digest, signature or trust check failed (tampering or corruption)."""

    exit_code = 1


class RegistryError(ExpertError):
    """Install/uninstall/update cannot proceed (missing dependency, cycle, guard)."""


class CompositionError(ExpertError):
    """Experts that can't be attached or composed as asked (misfit, missing requirement, conflict)."""


class EnvironmentProblem(ExpertError):
    """Something the machine lacks: a model not prepared, a dependency not installed."""

    exit_code = 3


class ModelNotFoundError(EnvironmentProblem):
    """A base model name resolves to nothing."""


class TestsFailed(ExpertError):
    """The command ran and the result is negative (some test cases failed)."""

    exit_code = 1
