"""posthouse.dns."""
