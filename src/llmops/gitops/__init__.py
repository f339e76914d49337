"""The GitOps repository: llmops.yaml, Argo CD Applications, manifests, git, kustomize, rendering."""
