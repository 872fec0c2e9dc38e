"""posthouse.message."""
