"""Administration: the operations the CLI and the web admin share, and the web admin."""
