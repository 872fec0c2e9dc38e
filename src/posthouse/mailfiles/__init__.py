"""Mail in files: Maildir and mbox in and out of the store, and the accounts as JSON.

The formats (``maildir``, ``mbox``, ``flagmap``) are plain functions on bytes and paths; the
``importer``, ``exporter`` and ``accounts`` drive the store through its ports only, so they
work on a live data dir exactly as the server's own writes do.
"""
