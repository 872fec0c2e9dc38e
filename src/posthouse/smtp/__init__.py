"""posthouse.smtp."""
