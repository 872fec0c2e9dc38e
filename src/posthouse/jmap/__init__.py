"""JMAP (RFC 8620 Core, RFC 8621 Mail) on the HTTPS listener, on the one store.

``routes.py`` adds the pages to the HTTP route table; ``api.py`` runs a request's method
calls; the method families live one per module (``mailbox_methods``, ``email_methods``,
``thread_methods``); ``account.py`` is the per-request picture of one account read from the
store ports; ``state.py`` turns the store's per-mailbox modseqs into state strings.
"""
