"""The embedded GitOps engine (``llmops up``): the repository's Argo CD Applications reconciled onto
local vLLM processes with Argo CD's sync semantics, its state in one SQLite database."""
