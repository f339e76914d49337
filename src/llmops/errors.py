"""The one exception root of llmops and its domain subclasses.

The CLI boundary (:mod:`llmops.cli`) turns any :class:`LlmopsError` into a
one-line message plus a hint and the exit code carried by the class. Nothing
else in the package prints errors or calls ``sys.exit``.
"""

from __future__ import annotations

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_FINDINGS = 1  # the command ran and found problems (validation errors, failed smoke test)
EXIT_ERROR = 2  # the command could not run (bad input, missing tool, broken repository)


class LlmopsError(Exception):
    """Root of every error llmops raises on purpose."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(LlmopsError):
    """The user asked for something that does not exist (unknown environment or application)."""


class ConfigError(LlmopsError):
    """The repository configuration file is missing pieces or malformed."""


class RepositoryError(LlmopsError):
    """The repository is not usable: not a git repository, unreadable manifests, missing overlay."""


class ManifestError(LlmopsError):
    """A YAML manifest cannot be parsed."""


class RenderError(LlmopsError):
    """kustomize failed or could not be found."""


class GitError(LlmopsError):
    """A git command failed."""


class EndpointError(LlmopsError):
    """An inference endpoint could not be reached or answered wrongly (see :mod:`llmops.endpoint`)."""

    # Whether trying again later may succeed (connection refused while pods start, 503, timeouts).
    retryable: bool = False
