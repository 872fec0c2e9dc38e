"""posthouse.queue."""
