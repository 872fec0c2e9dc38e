"""posthouse.imap/handlers."""
