"""Asking a served model: the endpoint client, which endpoint to ask, smoke tests, GuideLLM benchmarks."""
