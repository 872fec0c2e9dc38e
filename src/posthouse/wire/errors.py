"""The two ways a protocol exchange goes wrong (the h11 split)."""


class RemoteProtocolError(Exception):
    """The peer sent something the protocol does not allow."""


class LocalProtocolError(Exception):
    """Our own code tried to send something the protocol state does not allow (a bug)."""
