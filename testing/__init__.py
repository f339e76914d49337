"""Helpers shared by tests and benchmarks (not shipped): repositories, the fleet generator, vLLM launches."""
