"""Sans-IO POP3 server core (RFC 1939, 2449, 2595, 3206, 5034, 6856).

``Pop3Connection`` (connection.py) is the core: it parses each line (parser.py), passes it
through the one gate ``states.refusal`` (the state table ``VALID_STATES``, then the session
rules: USER needs TLS, PASS follows USER, AUTH names an offered mechanism, STLS once and
only with a certificate) and runs the command. Every reply the client can see is named in
replies.py, for the core and the adapter alike.

Driving it from an IO adapter::

    conn = Pop3Connection(Pop3Config(tls_available=True, allow_plaintext=peer_is_loopback))
    write(conn.greeting())
    while True:
        event = conn.next_event()
        match event:
            case NeedData():
                conn.receive_data(await read())       # EOF: just close; nothing is committed
            case Write(data):
                write(data)
            case Closed():
                break                                 # flush, close
            case Pass(user, password):
                principal = await authenticator.authenticate(user, password, remote_ip=ip)
                if principal is None:
                    write(conn.send(replies.invalid_credentials()))
                else:                                 # lock the maildrop, load INBOX
                    write(conn.login_succeeded(uid_sizes, uidvalidity=inbox.uidvalidity))
            case AuthStart(mechanism, initial):       # sasl.events: raw client text
                exchange = SaslExchange(authenticator, remote_ip=ip,
                                        allowed=conn.sasl_mechanisms)
                ...                                   # start(); auth_challenge / as Pass
            case AuthResponse(line):
                ...                                   # exchange.step(line); same answers
            case Stls():
                write(conn.start_tls()); await upgrade_to_tls()
            case Retr(number, uid) | Top(number, uid, _):
                write(conn.send_message(await read_blob(uid)))
            case Commit(deleted_uids, retrieved_uids):
                ok = await delete_or_mark_seen(deleted_uids)
                write(conn.send(replies.signed_off(len(deleted_uids)) if ok
                                else replies.update_failed()))
            case _:
                pass                                  # notices: UserAccepted, Utf8
"""

from posthouse.pop3.commands import Verb
from posthouse.pop3.config import Pop3Config
from posthouse.pop3.connection import Pop3Connection
from posthouse.pop3.events import (
    Commit,
    Notice,
    Pass,
    Pop3Event,
    Pop3Request,
    Request,
    Retr,
    Stls,
    Top,
    UserAccepted,
    Utf8,
    Write,
)
from posthouse.pop3.maildrop import Maildrop
from posthouse.pop3.replies import Err, Ok, Pop3Reply, RespCode
from posthouse.pop3.states import VALID_STATES, Pop3State
from posthouse.sasl.events import AuthResponse, AuthStart
from posthouse.wire.events import NEED_DATA, Closed, NeedData

__all__ = [
    "NEED_DATA",
    "VALID_STATES",
    "AuthResponse",
    "AuthStart",
    "Closed",
    "Commit",
    "Err",
    "Maildrop",
    "NeedData",
    "Notice",
    "Ok",
    "Pass",
    "Pop3Config",
    "Pop3Connection",
    "Pop3Event",
    "Pop3Reply",
    "Pop3Request",
    "Pop3State",
    "Request",
    "RespCode",
    "Retr",
    "Stls",
    "Top",
    "UserAccepted",
    "Utf8",
    "Verb",
    "Write",
]
