"""posthouse.imap."""
