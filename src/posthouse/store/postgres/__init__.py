"""The PostgreSQL backend of the store (backend.py PostgresStore), selected by
``[store] url = "postgresql://..."``; several posthouse nodes may share one database."""
