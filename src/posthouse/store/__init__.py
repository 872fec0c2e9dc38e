"""The store: accounts, mailboxes, messages, queue and change events behind one async API."""
