"""The one exception root of llmops, its domain subclasses, and the exit codes they map to.

Only the CLI boundary (:mod:`llmops.cli.boundary`) turns an :class:`LlmopsError` into
output: one ``error:`` line, one ``hint:`` line, and the exit code the class carries.
Nothing else prints errors or calls ``sys.exit``. Any other exception is a bug: the
boundary writes a crash report and says where.

The whole tree (domain roots here, specialisations beside the code that raises them)::

    LlmopsError                       exit 2 unless noted
    ├── UsageError                    the user asked for something that does not exist or cannot be
    │   │                             combined (unknown environment, conflicting flags)
    │   ├── UnknownApplication        not on the cluster; lists the Applications that are (cluster/driver.py)
    │   └── PlaygroundError           the dashboard's chat cannot reach that model (web/playground.py)
    ├── ConfigError                   llmops.yaml is malformed or names unknown things
    │   └── IgnoreDifferencesError    an ignoreDifferences jq expression fails (cluster/normalize.py)
    ├── RepositoryError               not a git repository, missing overlay, duplicate Application
    │   └── OutsideRepositoryError    a path the repository names leads out of it (support/files.py)
    ├── ManifestError                 a YAML manifest cannot be parsed (gitops/manifests.py)
    │   └── YamlBudgetError           too large, or aliases that expand too far (gitops/manifests.py)
    ├── RenderError                   kustomize failed or cannot be found (gitops/kustomize.py), or a
    │   │                             build option or Helm chart it cannot use (gitops/build_options.py)
    │   ├── RenderLimitError          kustomize went over its memory, CPU or time limit
    │   └── RemoteUnreachableError    a remote resource's host does not resolve or answer
    ├── InitError                     init would replace files that differ (gitops/init.py)
    ├── GitError                      a git command failed (gitops/git.py)
    ├── LockedError                   another llmops process holds the lock (support/files.py)
    ├── ModelError                    model facts unknown or unreadable (serving/models.py)
    │   └── DeclarationError          an InferenceService says too little to size (serving/kserve.py)
    ├── GpuError                      unknown GPU type (serving/gpus.py)
    ├── SizingError                   exit 1: vLLM would refuse these settings (serving/sizing.py)
    ├── DemoModelError                the demo model cannot be written (serving/demo_model.py)
    ├── SchemaError                   the CRD schema catalog is unreadable (validation/catalog.py)
    ├── CelError                      a CEL expression (validation/cel.py)
    │   ├── CelCompileError           it does not parse
    │   ├── CelUnsupportedError       it uses CEL llmops cannot evaluate (names it)
    │   └── CelEvaluationError        it failed at run time
    ├── PolicyError                   a policy or binding cannot apply (validation/admission_model.py)
    │   └── NamespaceUnknown          an object's Namespace is not in the repository
    ├── ClusterError                  the Kubernetes API cannot be reached or refused (cluster/)
    │   ├── ClusterConfigError        no kubeconfig or context, a failed exec plugin (cluster/client.py)
    │   ├── ClusterUnreachable        the API server did not answer: names the address (cluster/client.py)
    │   ├── ClusterAuthError          401: log in again (cluster/client.py)
    │   ├── ClusterForbidden          403: the server's sentence, which right is missing (cluster/client.py)
    │   ├── MissingApiError           a CRD is not installed: which operator to install (cluster/client.py)
    │   ├── ClusterConflict           409: changed meanwhile, or another field manager (cluster/client.py)
    │   └── BootstrapError            setup/ or argocd/ cannot be read (cluster/bootstrap.py)
    ├── BenchError                    GuideLLM failed or wrote no report (probes/bench.py)
    ├── ProbeFailed                   exit 1: the endpoint under test failed before the load test
    │                                 could start, as a failed smoke check would (probes/bench.py)
    ├── CommentError                  the sticky pull-request comment cannot be posted: no token, bad
    │                                 repository or PR number, GitHub refused (delivery/pr_comment.py)
    ├── EngineError                   the embedded engine cannot start or refused a request (engine/)
    │   ├── StateDirError             the state directory cannot be created or written (engine/paths.py)
    │   ├── EngineRunning             another engine already serves this repository (engine/paths.py)
    │   ├── PortInUse                 a configured port is taken (engine/paths.py)
    │   ├── EngineNotRunning          no engine answers for this repository (engine/client.py)
    │   ├── OperationRefused          another operation runs, rollback of an automated app (engine/sync.py)
    │   │   └── SyncBlocked           a freeze or a sync window refuses the sync now (engine/gates.py)
    │   └── WindowError               a sync window that cannot be read (engine/windows.py)
    └── EndpointError                 an HTTP endpoint misbehaved (support/http.py, probes/endpoint.py)
        ├── EndpointUnreachable       refused, timed out, reset: retryable
        │   └── HostNotFound          the name does not resolve: not retryable
        ├── EndpointTLSError          TLS handshake failed (untrusted certificate, or plain HTTP)
        ├── EndpointAuthError         401/403: which token is needed
        ├── EndpointServerError       5xx: retryable
        ├── EndpointResponseError     an answer of the wrong shape (other 4xx, not JSON)
        │   └── ResponseTooLarge      an answer over the size cap (support/http.py)
        ├── DeadlineExceeded          the run's deadline passed inside a request (support/http.py)
        └── UnknownModelError         the model is not among those served (probes/endpoint.py)

Each class carries its exit code: 2 (could not run) unless noted; 1 where the error *is* the
finding the verb looks for (``SizingError``: vLLM would refuse to start; ``ProbeFailed``).

Whether an error is worth retrying is a property of its class (``retryable``), never
set on an instance.
"""

from __future__ import annotations

# Exit codes shared by every command (docs/troubleshooting.md).
EXIT_OK = 0
EXIT_FINDINGS = 1  # the command ran and found problems (validation errors, failed smoke test)
EXIT_ERROR = 2  # the command could not run (bad input, missing tool, broken repository)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); SIGTERM and SIGHUP exit 128 + their number (cli/boundary.py)
EXIT_BROKEN_PIPE = 141  # stdout closed early, e.g. `llmops validate | head -1` (128 + SIGPIPE)


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


class ClusterError(LlmopsError):
    """The Kubernetes API cannot be reached or refused the request."""


class EngineError(LlmopsError):
    """The embedded engine cannot start, cannot be reached, or refused a request."""


class EndpointError(LlmopsError):
    """An HTTP endpoint could not be reached or answered wrongly (see :mod:`llmops.support.http`)."""

    # Whether trying again later may succeed (connection refused while pods start, 503, timeouts).
    retryable: bool = False
