"""The store: accounts, mailboxes, messages, queue and change events behind one async API.

It keeps the MIME parse of each message (posthouse.message.summary_model.MessageSummary) and
runs it after a delivery commits, but does not own it: a backend is given the parse functions
when app.py builds it, and must never import posthouse.message's MIME parser (summary, mime,
headers; an import-linter contract holds it). The address splitter of message.address is
fine.
"""
