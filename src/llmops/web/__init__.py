"""The engine's HTTP API (FastAPI + uvicorn, versioned JSON under /api/v1) and its dashboard (/ui): the
only place the web framework is imported."""
