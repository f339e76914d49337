"""One module per CLI verb. Each exposes ``run(...) -> int`` callable from tests."""
