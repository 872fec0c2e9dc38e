"""posthouse: a complete mail server (SMTP, submission, IMAP, POP3, outbound queue)."""

__version__ = "0.1.0"
