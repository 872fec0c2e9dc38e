"""posthouse.store/postgres."""
