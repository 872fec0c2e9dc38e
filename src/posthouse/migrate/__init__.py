"""Moving mail in from another IMAP server: the client side of a migration and its engine.

``response`` parses what a source server sends (sans-IO), ``source`` is the small async IMAP
client that speaks to it, ``folders`` maps its folder names onto posthouse's, ``state`` keeps
what was copied (so a second run copies only what is new) and ``engine`` runs a migration
through the store's ports. The CLI (``cli/import_imap.py``) builds the store and the client.
"""
