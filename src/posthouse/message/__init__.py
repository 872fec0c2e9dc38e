"""posthouse.message: MIME parsed once at delivery, and what IMAP needs from it later.

- ``summary.summarize(data)``: the MessageSummary the store caches (envelope and body
  structure as JSON, decoded headers for SEARCH, the sent date); ``summary.message_text``:
  the body text for the full-text index. app.py hands both functions to the store.
- ``summary_model``: MessageSummary and the types of those functions, without the parser.
  The store imports only this and ``address`` (the address splitter), never the MIME parser
  (``summary``, ``mime``, ``headers``: an import-linter contract holds it).
- ``mime.parse(data)``: the MIME tree as byte offsets; ``sections`` extracts FETCH
  BODY[...] / BINARY[...] content from it.
- ``headers``, ``params``, ``address``, ``envelope``, ``structure``, ``transfer``: the pieces.
"""
