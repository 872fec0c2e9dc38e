"""The store: accounts, mailboxes, messages, queue and change events behind one async API.

It keeps the MIME parse of each message (posthouse.message.summary_model.MessageSummary) but
never parses: a backend is given the parse functions when app.py builds it, and must not
import posthouse.message's parser modules.
"""
