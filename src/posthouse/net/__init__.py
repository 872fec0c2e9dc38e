"""posthouse.net."""
