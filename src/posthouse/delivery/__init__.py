"""posthouse.delivery."""
