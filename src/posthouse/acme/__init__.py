"""ACME (RFC 8555) certificates: the JWS and challenge pieces, the client, the files in the
data dir and the renewal manager. app.py builds the manager and plugs the challenge
responders into the listeners; nothing here binds a socket."""
