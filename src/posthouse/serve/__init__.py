"""posthouse.serve."""
