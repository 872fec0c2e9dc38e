"""posthouse.pop3."""
