"""Offline care of a data directory: backup, restore and verify (the CLI's engines)."""
