"""A real cluster through the Kubernetes API: CRDs for the schema catalog (the Argo CD driver joins it)."""
