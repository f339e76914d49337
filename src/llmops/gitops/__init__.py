"""The GitOps repository: llmops.yaml, Applications, manifests, git, kustomize, renders, affected envs."""
