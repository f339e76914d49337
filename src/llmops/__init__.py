"""llmops: GitOps delivery of LLM inference services (vLLM on KServe, Argo CD)."""

from __future__ import annotations

__version__ = "0.1.0"
