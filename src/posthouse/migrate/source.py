"""A small async IMAP client for reading a source server during a migration.

It does what a migration needs and nothing more: connect (implicit TLS, STARTTLS, or plain
when the operator says so), log in, LIST, EXAMINE (read-only: the source is never changed),
UID FETCH with BODY.PEEK (no \\Seen is set, RFC 9051 6.4.5), and LOGOUT. Certificates are
verified unless the caller hands a context that does not. Responses stream: ``fetch`` yields
each message as soon as its FETCH response is complete, so a connection lost mid-message
names the message it was reading (``SourceDisconnected``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from posthouse.migrate.response import (
    FetchedItem,
    ListedFolder,
    ResponseError,
    Value,
    first_personal_namespace,
    literal_size,
    parse_fetch,
    parse_list,
    response_code,
    tokenize,
)

MAX_LINE = 1 << 20  # a response line (not a literal) longer than this is refused
MAX_LITERAL = 1 << 30  # one literal (a message body) larger than this is refused


class SourceError(Exception):
    """The source server refused something or broke the protocol."""


class SourceDisconnected(SourceError):
    """The connection to the source ended (or timed out) in the middle of the work."""


@dataclass(frozen=True, slots=True)
class SourceFolderStatus:
    """What EXAMINE reported about a folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True, slots=True)
class SourceCompletion:
    """A command's completion: OK, NO or BAD and its text."""

    status: str
    text: bytes


class ImapSourceClient:
    """One connection to the source server (not safe for concurrent commands)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self._tag = 0
        self.capabilities: frozenset[str] = frozenset()
        self.utf8 = False  # UTF8=ACCEPT enabled: names are UTF-8, not modified UTF-7
        self.last_codes: list[tuple[str, bytes]] = []  # of the last command's responses

    @classmethod
    async def connect(cls, host: str, port: int, *, security: str,
                      tls: ssl.SSLContext | None, io_timeout: float = 60.0) -> ImapSourceClient:
        """Connect and read the greeting; ``security`` is "tls", "starttls" or "plain"."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=tls if security == "tls" else None,
                server_hostname=host if security == "tls" else None, limit=MAX_LINE),
                io_timeout)
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(_untrusted(host, exc)) from None
        except ssl.SSLError as exc:
            raise SourceError(f"TLS with {host}:{port} failed: {exc.reason or exc}") from None
        except (OSError, TimeoutError) as exc:
            raise SourceDisconnected(f"cannot connect to {host}:{port}: {exc}") from None
        client = cls(reader, writer, timeout=io_timeout)
        try:
            await client._greeting()
            if security == "starttls":
                await client._starttls(host, tls)
            if not client.capabilities:
                await client.command(b"CAPABILITY")
        except BaseException:
            await client.close()
            raise
        return client

    async def _greeting(self) -> None:
        words = (await self._read_response()).split(b" ", 2)
        if len(words) < 2 or words[0] != b"*" or words[1].upper() not in (b"OK", b"PREAUTH"):
            raise SourceError(f"unexpected greeting: {b' '.join(words)[:200]!r}")
        self._note_code(words[2] if len(words) > 2 else b"")

    async def _starttls(self, host: str, tls: ssl.SSLContext | None) -> None:
        if not self.capabilities:
            await self.command(b"CAPABILITY")
        if "STARTTLS" not in self.capabilities:
            raise SourceError("the source does not offer STARTTLS")
        await self.command(b"STARTTLS")
        context = tls if tls is not None else ssl.create_default_context()
        try:
            await asyncio.wait_for(self._writer.start_tls(context, server_hostname=host),
                                   self._timeout)
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(_untrusted(host, exc)) from None
        except ssl.SSLError as exc:
            raise SourceError(f"TLS with {host} failed: {exc.reason or exc}") from None
        self.capabilities = frozenset()  # RFC 9051 6.2.1: forget what was said before TLS
        await self.command(b"CAPABILITY")

    async def login(self, user: str, password: str) -> None:
        """AUTHENTICATE PLAIN when offered (any UTF-8), else LOGIN; then the capabilities
        again and ENABLE UTF8=ACCEPT when the source has it (RFC 6855 3)."""
        if "LOGINDISABLED" in self.capabilities and "AUTH=PLAIN" not in self.capabilities:
            raise SourceError("the source refuses a password login here (LOGINDISABLED): "
                              "use --tls or --starttls")
        initial = base64.b64encode(f"\0{user}\0{password}".encode())
        if "AUTH=PLAIN" in self.capabilities:
            if "SASL-IR" in self.capabilities:
                done = await self.command(b"AUTHENTICATE PLAIN " + initial, check=False)
            else:
                done = await self.command(b"AUTHENTICATE PLAIN", check=False,
                                          continuation=initial)
        else:
            done = await self.command(b"LOGIN " + _astring(user) + b" " + _astring(password),
                                      check=False)
        if done.status != "OK":
            raise SourceError(f"login as {user} refused: {_text(done.text)}")
        self.capabilities = frozenset()
        self._note_code(done.text)
        if not self.capabilities:
            await self.command(b"CAPABILITY")
        if "UTF8=ACCEPT" in self.capabilities and "ENABLE" in self.capabilities:
            untagged: list[list[Value]] = []
            await self.command(b"ENABLE UTF8=ACCEPT", untagged=untagged)
            self.utf8 = any(_word(v, 0) == b"ENABLED" and b"UTF8=ACCEPT" in
                            [x.upper() for x in v[1:] if isinstance(x, bytes)]
                            for v in untagged)

    async def namespace(self) -> tuple[str, str | None] | None:
        """The first personal namespace (prefix, delimiter), if the source has NAMESPACE."""
        if "NAMESPACE" not in self.capabilities:
            return None
        untagged: list[list[Value]] = []
        await self.command(b"NAMESPACE", untagged=untagged)
        for values in untagged:
            if _word(values, 0) == b"NAMESPACE":
                return first_personal_namespace(values)
        return None

    async def list_folders(self) -> list[ListedFolder]:
        """Every folder (RFC 6154 special-use attributes asked for when offered)."""
        special = "SPECIAL-USE" in self.capabilities and "LIST-EXTENDED" in self.capabilities
        cmd = b'LIST "" "*"' + (b" RETURN (SPECIAL-USE)" if special else b"")
        return await self._list(cmd, b"LIST")

    async def list_subscribed(self) -> list[ListedFolder]:
        """The subscribed names: LIST (SUBSCRIBED) with LIST-EXTENDED, else LSUB."""
        if "LIST-EXTENDED" in self.capabilities:
            return await self._list(b'LIST (SUBSCRIBED) "" "*"', b"LIST")
        return await self._list(b'LSUB "" "*"', b"LSUB")

    async def _list(self, cmd: bytes, kind: bytes) -> list[ListedFolder]:
        untagged: list[list[Value]] = []
        await self.command(cmd, untagged=untagged)
        out = []
        for values in untagged:
            if _word(values, 0) == kind:
                listed = parse_list(values)
                if listed is not None:
                    out.append(listed)
        return out

    async def examine(self, raw_name: bytes) -> SourceFolderStatus:
        """Open a folder read-only (RFC 9051 6.3.3)."""
        untagged: list[list[Value]] = []
        done = await self.command(b"EXAMINE " + _quote_bytes(raw_name), untagged=untagged,
                                  check=False)
        if done.status != "OK":
            raise SourceError(f"EXAMINE refused: {_text(done.text)}")
        uidvalidity, uidnext, exists = None, None, 0
        for values in untagged:
            if len(values) >= 2 and _word(values, 1) == b"EXISTS":
                exists = int(values[0]) if isinstance(values[0], bytes) else 0
        for name, arg in self.last_codes:
            if name == "UIDVALIDITY" and arg.isdigit():
                uidvalidity = int(arg)
            elif name == "UIDNEXT" and arg.isdigit():
                uidnext = int(arg)
        if uidvalidity is None:
            raise SourceError("EXAMINE gave no UIDVALIDITY")
        return SourceFolderStatus(uidvalidity, uidnext, exists)

    async def fetch(self, uid_set: bytes, items: bytes) -> AsyncIterator[FetchedItem]:
        """UID FETCH, one item per message as soon as its response is complete."""
        tag = await self._send(b"UID FETCH " + uid_set + b" (" + items + b")")
        while True:
            raw = await self._read_response()
            if raw.startswith(b"* "):
                values = tokenize(raw[2:])
                if _word(values, 1) == b"FETCH":
                    item = parse_fetch(values)
                    if item is not None:
                        yield item
                elif _word(values, 0) == b"BYE":
                    raise SourceDisconnected(f"the source said BYE: {_text(raw[6:])}")
                continue
            done = _tagged(raw, tag)
            if done is None:
                continue
            if done.status != "OK":
                raise SourceError(f"UID FETCH refused: {_text(done.text)}")
            return

    async def logout(self) -> None:
        """LOGOUT, then close; errors on the way out are ignored."""
        with contextlib.suppress(SourceError, TimeoutError, OSError):
            await asyncio.wait_for(self.command(b"LOGOUT", check=False), 5)
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(self._writer.wait_closed(), 5)

    # --- the command loop ---------------------------------------------------------------

    async def command(self, cmd: bytes, *, check: bool = True,
                      untagged: list[list[Value]] | None = None,
                      continuation: bytes | None = None) -> SourceCompletion:
        """Send one command and read to its tagged completion; untagged data (tokenized,
        without "*") goes to ``untagged``, response codes to ``last_codes``. ``check``: a NO
        or BAD raises SourceError."""
        self.last_codes = []
        tag = await self._send(cmd)
        while True:
            raw = await self._read_response()
            if raw.startswith(b"+"):
                if continuation is None:
                    raise SourceError(f"unexpected continuation after {cmd.split()[0]!r}")
                await self._write(continuation + b"\r\n")
                continuation = None
                continue
            if raw.startswith(b"* "):
                status = raw[2:].split(b" ", 1)
                word = status[0].upper()
                if word in (b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH"):
                    text = status[1] if len(status) > 1 else b""
                    if word == b"BYE" and not cmd.upper().startswith(b"LOGOUT"):
                        raise SourceDisconnected(f"the source said BYE: {_text(text)}")
                    self._note_code(text)
                    continue
                if word == b"CAPABILITY":
                    self.capabilities = _caps(raw[2:].split(b" ")[1:])
                    continue
                if untagged is not None:
                    untagged.append(tokenize(raw[2:]))
                continue
            done = _tagged(raw, tag)
            if done is None:
                continue
            self._note_code(done.text)
            if check and done.status != "OK":
                raise SourceError(f"{cmd.split()[0].decode('ascii', 'replace')} refused: "
                                  f"{_text(done.text)}")
            return done

    def _note_code(self, text: bytes) -> tuple[str, bytes] | None:
        code = response_code(text)
        if code is not None:
            self.last_codes.append(code)
        if code is not None and code[0] == "CAPABILITY":
            self.capabilities = _caps(code[1].split(b" "))
        return code

    async def _send(self, cmd: bytes) -> bytes:
        self._tag += 1
        tag = b"m%d" % self._tag
        await self._write(tag + b" " + cmd + b"\r\n")
        return tag

    async def _write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self._timeout)
        except (OSError, TimeoutError) as exc:
            raise SourceDisconnected(f"connection lost while sending: {exc}") from None

    async def _read_response(self) -> bytes:
        """One whole response: its line and every literal it announces, spliced in."""
        parts: list[bytes] = []
        try:
            while True:
                line = await asyncio.wait_for(self._reader.readuntil(b"\r\n"), self._timeout)
                parts.append(line)
                size = literal_size(line)
                if size is None:
                    break
                if size > MAX_LITERAL:
                    raise SourceError(f"the source sent a literal of {size} octets")
                parts.append(await asyncio.wait_for(self._reader.readexactly(size),
                                                    self._timeout))
        except asyncio.IncompleteReadError:
            raise SourceDisconnected("the source closed the connection") from None
        except asyncio.LimitOverrunError:
            raise SourceError("the source sent an overlong line") from None
        except TimeoutError:
            raise SourceDisconnected(f"no answer from the source in {self._timeout:g} s") \
                from None
        except (OSError, ssl.SSLError) as exc:
            raise SourceDisconnected(f"connection lost: {exc}") from None
        raw = b"".join(parts)
        return raw[:-2] if raw.endswith(b"\r\n") else raw


def _untrusted(host: str, exc: ssl.SSLCertVerificationError) -> str:
    return (f"the certificate of {host} is not trusted ({exc.verify_message}): give its CA "
            "with --cafile")


def _tagged(raw: bytes, tag: bytes) -> SourceCompletion | None:
    words = raw.split(b" ", 2)
    if words[0] != tag:
        if words[0].startswith(b"m") and words[0][1:].isdigit():
            raise SourceError(f"answer for another command: {raw[:80]!r}")
        raise SourceError(f"unexpected response: {raw[:80]!r}")
    if len(words) < 2 or words[1].upper() not in (b"OK", b"NO", b"BAD"):
        raise SourceError(f"bad completion: {raw[:80]!r}")
    return SourceCompletion(words[1].upper().decode("ascii"), words[2] if len(words) > 2 else b"")


def _caps(words: Sequence[bytes]) -> frozenset[str]:
    return frozenset(w.decode("ascii", "replace").upper() for w in words if w)


def _word(values: list[Value], index: int) -> bytes | None:
    if len(values) > index and isinstance(values[index], bytes):
        word = values[index]
        assert isinstance(word, bytes)
        return word.upper()
    return None


def _text(text: bytes) -> str:
    return text.decode("utf-8", "replace")[:200]


def _astring(text: str) -> bytes:
    return _quote_bytes(text.encode("utf-8"))


def _quote_bytes(data: bytes) -> bytes:
    """A quoted string, or a literal when quoting cannot carry it (CR, LF, NUL)."""
    if any(c in data for c in b"\r\n\0"):
        # only reached for LOGIN with odd passwords or odd names; non-synchronizing
        # literals need LITERAL+, so fall back to the quoted form's limits
        raise ResponseError("a name or password with CR, LF or NUL cannot be sent")
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


__all__ = [
    "ImapSourceClient",
    "ResponseError",
    "SourceDisconnected",
    "SourceError",
    "SourceFolderStatus",
]
