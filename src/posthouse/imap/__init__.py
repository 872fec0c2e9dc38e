"""IMAP4rev1/IMAP4rev2: the sans-IO core and the engine on the store.

Bytes in: ``connection.ImapConnection`` splits input into ``RawCommand``s (``events``;
literals are granted or refused by the session); ``parser.parse_command`` turns one into a
typed command (``commands``); ``states.allowed`` gates it by connection state; a handler
(``handlers/``) runs it on the store; ``responses`` encodes what it yields; ``view.MailboxView``
turns store events into the untagged updates the protocol allows after each command
(``states.may_expunge``). ``replies`` maps parse and domain errors to tagged responses;
``config.ImapConfig`` holds the limits. Nothing here touches a socket: the session that drives
all this over a connection is serve/imap.py.
"""
