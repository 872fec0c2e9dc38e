"""posthouse.message: MIME parsed once at delivery, and what IMAP needs from it later.

- ``summary.summarize(data)``: the MessageSummary the store caches (envelope and body
  structure as JSON, decoded headers and text for SEARCH, the sent date).
- ``mime.parse(data)``: the MIME tree as byte offsets; ``sections`` extracts FETCH
  BODY[...] / BINARY[...] content from it.
- ``headers``, ``params``, ``address``, ``envelope``, ``structure``, ``transfer``: the pieces.
"""
