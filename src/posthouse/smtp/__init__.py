"""Sans-IO SMTP for the server and the outbound client: bytes in, typed events out.

Server: ``SmtpServerConnection(SmtpConfig(...))`` (connection.py, with events.py, states.py,
parser.py, grammar.py, params.py, data.py, config.py). Client: ``SmtpClientConnection()``
(client.py, reply_reader.py). Replies are ``Reply`` values; ``replies`` holds the standard ones.

Decisions, each explained where it is implemented:
- command lines up to 1000 octets with CRLF (config.py); bare-LF command lines refused;
- MAIL needs HELO/EHLO first (states.py); parameters only after EHLO (params.py);
- DATA ends only at CRLF.CRLF; bare CR/LF anywhere -> 550 5.6.0 after the real end;
  long content lines accepted; the size limit is checked while streaming (data.py);
- enhanced codes only after EHLO, never on the EHLO/HELO reply or 3xx (connection.py);
- sender address syntax -> 501 5.1.7, recipient -> 501 5.1.3 (RFC 3463).
"""

from posthouse.sasl.events import AuthResponse, AuthStart
from posthouse.smtp.client import ServerReply, SmtpClientConnection
from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import (
    BdatChunk,
    DataStart,
    Expn,
    Helo,
    Help,
    MailFrom,
    MessageComplete,
    Noop,
    Quit,
    RcptTo,
    Rejected,
    Rset,
    SmtpEvent,
    StartTLS,
    Vrfy,
)
from posthouse.smtp.grammar import Address, AddressError, parse_address
from posthouse.smtp.params import MailParams, Orcpt, RcptParams
from posthouse.smtp.replies import Reply
from posthouse.smtp.reply_reader import Capabilities
from posthouse.smtp.states import Phase
from posthouse.wire.events import NEED_DATA, Closed, NeedData

__all__ = [
    "NEED_DATA",
    "Address",
    "AddressError",
    "AuthResponse",
    "AuthStart",
    "BdatChunk",
    "Capabilities",
    "Closed",
    "DataStart",
    "Expn",
    "Helo",
    "Help",
    "MailFrom",
    "MailParams",
    "MessageComplete",
    "NeedData",
    "Noop",
    "Orcpt",
    "Phase",
    "Quit",
    "RcptParams",
    "RcptTo",
    "Rejected",
    "Reply",
    "Rset",
    "ServerReply",
    "SmtpClientConnection",
    "SmtpConfig",
    "SmtpEvent",
    "SmtpServerConnection",
    "StartTLS",
    "Vrfy",
    "parse_address",
]
