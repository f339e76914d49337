"""Argo CD and KServe on a real cluster through the Kubernetes API: the cluster driver, bootstrap, CRDs."""
