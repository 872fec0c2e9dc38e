"""The webmail at /mail."""
