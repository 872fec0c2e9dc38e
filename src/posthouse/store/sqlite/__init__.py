"""posthouse.store/sqlite."""
