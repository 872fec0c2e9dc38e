"""posthouse.mailauth."""
