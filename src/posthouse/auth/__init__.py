"""posthouse.auth."""
