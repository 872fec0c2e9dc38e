"""Sans-IO IMAP4rev1/IMAP4rev2 core.

Bytes in: ``reader.ImapConnection`` splits input into ``RawCommand``s (literals are granted or
refused by the session); ``parse.parse_command`` turns one into a typed command
(``commands``); ``states.allowed`` gates it by connection state; a handler (``handlers/``)
runs it on the store; ``responses`` encodes what it yields; ``view.MailboxView`` turns store
events into the untagged updates the protocol allows after each command
(``states.may_expunge``). ``errors`` maps parse and domain errors to tagged responses.
Nothing here does IO.
"""
