"""How vLLM serves a model on KServe: vLLM arguments, model and GPU facts, sizing, the demo model."""
