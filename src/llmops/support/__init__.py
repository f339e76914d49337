"""Leaf helpers that know nothing of GitOps or serving: atomic files, JUnit XML."""
