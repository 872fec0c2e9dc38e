"""posthouse.imap/parse."""
