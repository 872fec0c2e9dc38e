"""Reference peers: private Postfix and Dovecot instances, smtp-source and smtp-sink.

Everything listens on 127.0.0.1 high ports and lives in one scratch directory; every process is
started here and stopped by the PID recorded at start. Used by interop tests and by bench/.
Postfix and Dovecot must run as root (they drop privileges themselves); mail files belong to an
unprivileged owner (``vmail`` if it exists, else ``nobody``). Example::

    with scratch_dir() as lab, PostfixPeer(lab / "pf", smtp_port=free_port(),
                                          mailboxes=["ann"]) as pf:
        smtplib.SMTP(LOOPBACK, pf.smtp_port).sendmail("x@example.org", "ann@example.test", b"")
        pf.wait_for_count("ann@example.test", 1)
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

LOOPBACK = "127.0.0.1"
INSTALL_HINT = "install the Debian tools with scripts/debian-tools.sh (as root)"
_SBIN_DIRS = ("/usr/sbin", "/usr/bin", "/usr/lib/postfix/sbin", "/usr/lib/postfix")


class PeerError(RuntimeError):
    """A peer failed to start, stop or answer; the message carries its log tail."""


class MissingTool(PeerError):
    """A binary the peers need is not installed."""


# --- small helpers -------------------------------------------------------------------------


def find_tool(name: str) -> str:
    """The absolute path of a Debian tool (PATH first, then the sbin folders)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN_DIRS:
        candidate = Path(folder, name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise MissingTool(f"{name} not found: {INSTALL_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (held together, so they are distinct)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def terminate(proc: subprocess.Popen[Any], *, grace: float) -> None:
    """SIGTERM a child started here; SIGKILL it if it has not exited within ``grace``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll check() until it is true or timeout seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, or a note that it does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """True if pid runs (a zombie counts as gone: its parent, not us, must reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _require_free(*ports: int) -> None:
    """PeerError if another process already listens on one of the ports."""
    for port in ports:
        if is_listening(port):
            raise PeerError(f"port {LOOPBACK}:{port} is already in use by another process")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PeerError(f"{what} must be started as root (it drops privileges itself)")


@contextlib.contextmanager
def scratch_dir(prefix: str = "posthouse-peers-") -> Iterator[Path]:
    """A fresh folder in /tmp that peers' unprivileged processes can traverse (mode 0755).

    pytest's tmp_path sits under a 0700 folder, which postfix/dovecot/vmail cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _check_traversable(path: Path) -> None:
    """Every ancestor of path must be enterable by other users (o+x)."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise PeerError(f"{folder} is not enterable by other users (mode "
                            f"{folder.stat().st_mode & 0o777:o}); use peers.scratch_dir()")


@dataclass(frozen=True)
class MailOwner:
    """The unprivileged account that owns the peers' mail files."""

    name: str
    uid: int
    gid: int


def mail_owner(name: str | None = None) -> MailOwner:
    """name, else $POSTHOUSE_PEER_MAIL_USER, else vmail, else nobody."""
    for candidate in (name, os.environ.get("POSTHOUSE_PEER_MAIL_USER"), "vmail", "nobody"):
        if not candidate:
            continue
        try:
            pw = pwd.getpwnam(candidate)
        except KeyError:
            if candidate == name:
                raise PeerError(f"no such user {name!r} to own peer mail") from None
            continue
        return MailOwner(pw.pw_name, pw.pw_uid, pw.pw_gid)
    raise PeerError("no user vmail or nobody to own peer mail")


def _mkdir(path: Path, owner: MailOwner | None = None, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)
    return path


def split_address(address: str, default_domain: str) -> tuple[str, str]:
    """("ann", "example.test") from "ann@example.test" or from "ann" plus the default."""
    local, at, domain = address.rpartition("@")
    return (local, domain.lower()) if at else (address, default_domain)


def _maildir_size(maildir: Path) -> int:
    """How many messages a Maildir holds; cheap enough to poll (no stat, no sort)."""
    count = 0
    for sub in ("new", "cur"):
        with contextlib.suppress(FileNotFoundError), os.scandir(maildir / sub) as entries:
            count += sum(1 for _ in entries)
    return count


def _maildir_files(maildir: Path) -> list[Path]:
    files = [p for sub in ("new", "cur") if (maildir / sub).is_dir()
             for p in (maildir / sub).iterdir() if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def sample_message(index: int, size: int = 1024, *, sender: str = "peer@source.test",
                   recipient: str = "user@example.test") -> bytes:
    """A plain RFC 5322 message of about size bytes with LF line ends (Maildir style)."""
    head = (f"From: Peer Sender <{sender}>\nTo: <{recipient}>\n"
            f"Subject: sample message {index}\nDate: Mon, 02 Jan 2023 10:00:00 +0000\n"
            f"Message-ID: <sample-{index}@source.test>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n\n").encode()
    line = f"line of message {index}: the quick brown fox jumps over the lazy dog\n".encode()
    body_len = max(size - len(head), len(line))
    body = (line * (body_len // len(line) + 1))[:body_len]
    return head + body.rstrip(b"\n") + b"\n"


class _Managed:
    """start()/stop() as a context manager, with stop() also registered at exit."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _started(self) -> None:
        atexit.register(self.stop)

    def _stopped(self) -> None:
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# --- Postfix -------------------------------------------------------------------------------

_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_MAIN_COMMON = """\
compatibility_level = 3.6
config_directory = {root}/etc
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {root}/log/maillog
maillog_file_prefixes = {root}/log
syslog_name = postfix-peer
myhostname = peer.{domain}
mydomain = {domain}
myorigin = $myhostname
mydestination =
inet_interfaces = {host}
inet_protocols = ipv4
mynetworks_style = host
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = $myhostname ESMTP peer
biff = no
smtp_dns_support_level = disabled
message_size_limit = 52428800
# no local(8): smtpd must not open /etc/aliases or passwd
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:peer instance: no local delivery
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
delay_warning_time = 0
"""

_MAIN_MAILDIR = """\
# deliver to the virtual Maildirs only; nothing may leave the machine
default_transport = error:peer instance: no external delivery
relay_transport = error:peer instance: no external delivery
relayhost =
virtual_mailbox_domains = {domains}
virtual_mailbox_base = {base}
virtual_mailbox_maps = texthash:{root}/etc/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = {min_uid}
virtual_mailbox_limit = 0
"""

_MAIN_TLS = """\
# opportunistic STARTTLS both ways, self-signed certificate, nothing verified
smtpd_tls_cert_file = {root}/etc/cert.pem
smtpd_tls_key_file = {root}/etc/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_loglevel = 1
"""

_MAIN_RELAY = """\
# every message goes to one loopback host:port
relayhost = [{relay_host}]:{relay_port}
default_transport = smtp
relay_transport = relay
smtp_bind_address = {host}
"""


class PostfixPeer(_Managed):
    """A private Postfix: Maildir delivery for listed mailboxes, or relay of everything.

    mode "maildir": SMTP on 127.0.0.1:smtp_port, local recipients delivered by virtual(8) into
    ``maildir_base/<domain>/<local>/``, every other transport is ``error:``. mode "relay": every
    accepted message goes to relay_to (a loopback host:port), e.g. a posthouse or a smtp-sink.
    tls=True offers STARTTLS (self-signed) and uses it when relaying if the next hop offers it.
    """

    def __init__(self, workdir: Path, *, smtp_port: int,
                 mode: Literal["maildir", "relay"] = "maildir",
                 relay_to: tuple[str, int] | None = None, mydomain: str = "example.test",
                 mailboxes: Iterable[str] = (), owner: MailOwner | None = None,
                 tls: bool = False, start_timeout: float = 30.0) -> None:
        if mode == "relay" and relay_to is None:
            raise ValueError("mode 'relay' needs relay_to=(host, port)")
        if mode not in ("maildir", "relay"):
            raise ValueError(f"unknown mode {mode!r}")
        if relay_to is not None and not ipaddress.ip_address(relay_to[0]).is_loopback:
            raise ValueError(f"relay_to must be a loopback address, not {relay_to[0]}")
        self.root = Path(workdir).resolve()
        self.smtp_port = smtp_port
        self.mode = mode
        self.relay_to = relay_to
        self.mydomain = mydomain.lower()
        self.mailboxes = [split_address(m, self.mydomain) for m in mailboxes]
        self.owner = owner
        self.tls = tls
        self.start_timeout = start_timeout
        self.master_pid: int | None = None

    # paths
    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "maillog"

    @property
    def maildir_base(self) -> Path:
        return self.root / "mail"

    def maildir(self, address: str) -> Path:
        """The Maildir of a listed mailbox (it exists once mail was delivered)."""
        local, domain = split_address(address, self.mydomain)
        return self.maildir_base / domain / local

    # lifecycle
    def start(self) -> Self:
        """Write the configuration and run ``postfix -c DIR start``; PeerError on failure."""
        _require_root("Postfix")
        find_tool("postfix")
        _require_free(self.smtp_port)
        # Its daemons (user postfix) re-read the files written here: whatever umask this
        # process has (a posthouse App sets a private one while it runs), they must be able to.
        umask_before = os.umask(0o022)
        try:
            self._write_config()
            out = self._postfix("start")
        finally:
            os.umask(umask_before)
        pid_file = self.queue_dir / "pid" / "master.pid"
        if not wait_until(pid_file.exists, 5):
            raise PeerError(f"postfix did not start:\n{out}\n{self.tail()}")
        self.master_pid = int(pid_file.read_text().split()[0])
        self._started()
        if not wait_until(lambda: is_listening(self.smtp_port), self.start_timeout):
            self.stop()
            raise PeerError(f"postfix is not listening on {LOOPBACK}:{self.smtp_port}:\n"
                            f"{self.tail()}")
        return self

    def stop(self) -> None:
        """``postfix -c DIR stop``, then wait for the master PID recorded at start to exit."""
        pid, self.master_pid = self.master_pid, None
        self._stopped()
        if pid is None or not pid_alive(pid):
            return
        with contextlib.suppress(PeerError):
            self._postfix("stop")
        if not wait_until(lambda: not pid_alive(pid), 15):
            os.kill(pid, signal.SIGKILL)

    def tail(self, lines: int = 25) -> str:
        """The end of this instance's maillog."""
        return f"--- {self.log_path} ---\n{log_tail(self.log_path, lines)}"

    def _postfix(self, action: str, timeout: float = 60) -> str:
        """Run a postfix command under script(1): postfix reports errors only to a tty."""
        cmd = f"postfix -c {shlex.quote(str(self.config_dir))} {action}"
        try:
            proc = subprocess.run([find_tool("script"), "-qec", cmd, "/dev/null"],
                                  capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"{cmd}: no answer in {timeout} s\n{self.tail()}") from exc
        out = (proc.stdout + proc.stderr).replace("\r\n", "\n").strip()
        if proc.returncode != 0:
            raise PeerError(f"{cmd} failed (exit {proc.returncode}):\n{out}\n{self.tail()}")
        return out

    def _write_config(self) -> None:
        _check_traversable(_mkdir(self.root))
        _mkdir(self.config_dir)
        _mkdir(self.queue_dir)  # create-missing makes the subfolders with their owners
        _mkdir(self.root / "log")
        postfix_user = pwd.getpwnam("postfix")
        _mkdir(self.root / "data", MailOwner("postfix", postfix_user.pw_uid, 0), 0o700)
        (self.config_dir / "master.cf").write_text(
            _MASTER_CF.format(listen=f"{LOOPBACK}:{self.smtp_port}"))
        main = _MAIN_COMMON.format(root=self.root, domain=self.mydomain, host=LOOPBACK)
        main += self._maildir_config() if self.mode == "maildir" else self._relay_config()
        if self.tls:
            self._make_certificate()
            main += _MAIN_TLS.format(root=self.root)
        else:
            main += "smtp_tls_security_level = none\n"
        (self.config_dir / "main.cf").write_text(main)

    def _make_certificate(self) -> None:
        """A throw-away self-signed EC certificate for STARTTLS."""
        argv = [find_tool("openssl"), "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7",
                "-subj", f"/CN=peer.{self.mydomain}",
                "-keyout", str(self.config_dir / "key.pem"),
                "-out", str(self.config_dir / "cert.pem")]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise PeerError(f"openssl could not make a certificate: {proc.stderr.strip()}")

    def _maildir_config(self) -> str:
        owner = self.owner or mail_owner()
        _mkdir(self.maildir_base, owner)
        lines = [f"{local}@{domain}  {domain}/{local}/\n" for local, domain in self.mailboxes]
        (self.config_dir / "vmailbox").write_text("".join(lines))
        domains = sorted({self.mydomain, *(d for _, d in self.mailboxes)})
        return _MAIN_MAILDIR.format(root=self.root, base=self.maildir_base, uid=owner.uid,
                                    gid=owner.gid, min_uid=min(100, owner.uid),
                                    domains=", ".join(domains))

    def _relay_config(self) -> str:
        assert self.relay_to is not None
        host, port = self.relay_to
        return _MAIN_RELAY.format(relay_host=host, relay_port=port, host=LOOPBACK)

    # mail
    def maildir_count(self, address: str) -> int:
        """How many messages were delivered to a mailbox (new/ plus cur/)."""
        return _maildir_size(self.maildir(address))

    def messages(self, address: str) -> list[bytes]:
        """The delivered messages of a mailbox, oldest first."""
        return [p.read_bytes() for p in _maildir_files(self.maildir(address))]

    def wait_for_count(self, address: str, count: int, timeout: float = 10.0) -> int:
        """Wait until the mailbox holds at least count messages; returns the final count."""
        wait_until(lambda: self.maildir_count(address) >= count, timeout)
        return self.maildir_count(address)

    def queue_count(self) -> int:
        """Messages still in the queue (incoming, active, deferred, hold, maildrop)."""
        subs = ("incoming", "active", "deferred", "hold", "maildrop")
        return sum(1 for s in subs if (self.queue_dir / s).is_dir()
                   for p in (self.queue_dir / s).rglob("*") if p.is_file())

    def wait_queue_empty(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted message left the queue (delivered or bounced)."""
        return wait_until(lambda: self.queue_count() == 0, timeout, 0.1)

    def flush(self) -> None:
        """Retry deferred mail now (``postqueue -f``)."""
        subprocess.run([find_tool("postqueue"), "-c", str(self.config_dir), "-f"],
                       capture_output=True, timeout=30, check=False)


# --- Dovecot -------------------------------------------------------------------------------

_DOVECOT_CONF = """\
# private Dovecot peer: loopback only, no /etc/dovecot
protocols = imap pop3
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
ssl = no
# plaintext only from loopback (also "secured" when client and server IP are equal)
disable_plaintext_auth = yes
login_trusted_networks = 127.0.0.0/8
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%d/%n
}}
mail_location = maildir:~/Maildir
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_max_userip_connections = 2000
protocol pop3 {{
  pop3_uidl_format = %08Xu%08Xv
}}
default_process_limit = 1000
default_client_limit = 5000
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {host}
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


class DovecotPeer(_Managed):
    """A private Dovecot (IMAP and POP3) run in the foreground with ``dovecot -F -c FILE``.

    users maps full addresses to plaintext passwords (passwd-file, scheme PLAIN); each user's
    mail is ``<workdir>/mail/<domain>/<local>/Maildir``. Plaintext login works from 127.0.0.1.
    ``hashed`` maps some of them to a stored password with its scheme instead (e.g.
    ``{ARGON2ID}$argon2id$...``), so that logins cost what a real server's do.
    ``extra_config`` is appended to the generated configuration (a namespace block, say).
    """

    def __init__(self, workdir: Path, *, imap_port: int, pop3_port: int,
                 users: dict[str, str], mail: Literal["maildir"] = "maildir",
                 owner: MailOwner | None = None, start_timeout: float = 20.0,
                 hashed: dict[str, str] | None = None, extra_config: str = "") -> None:
        if mail != "maildir":
            raise ValueError("only Maildir storage is supported")
        self.root = Path(workdir).resolve()
        self.imap_port = imap_port
        self.pop3_port = pop3_port
        self.users = {a.lower(): p for a, p in users.items()}
        self.hashed = {a.lower(): h for a, h in (hashed or {}).items()}
        self.extra_config = extra_config
        self.owner = owner
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "dovecot.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def maildir(self, user: str) -> Path:
        """A user's INBOX Maildir."""
        local, domain = split_address(user.lower(), "")
        return self.root / "mail" / domain / local / "Maildir"

    def start(self) -> Self:
        """Write the configuration and start dovecot in the foreground; PeerError on failure."""
        _require_root("Dovecot")
        binary = find_tool("dovecot")
        for proto in ("imap", "pop3"):
            if not Path("/usr/lib/dovecot", proto).exists():
                raise MissingTool(f"/usr/lib/dovecot/{proto} not found: {INSTALL_HINT}")
        _require_free(self.imap_port, self.pop3_port)
        self._write_config()
        self._stderr = (self.root / "log" / "stderr.log").open("wb")
        self.proc = subprocess.Popen([binary, "-F", "-c", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=subprocess.STDOUT)
        self._started()
        if not wait_until(self._ready, self.start_timeout):
            rc = self.proc.poll()
            self.stop()
            raise PeerError(f"dovecot did not start (exit {rc}):\n{self.tail()}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            return True  # exited: start() reports it
        if "starting up" not in log_tail(self.log_path, 5):
            return False  # dovecot logs this once every listener is bound
        return is_listening(self.imap_port) and is_listening(self.pop3_port)

    def stop(self) -> None:
        """SIGTERM to the dovecot master started here; SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        self._stopped()
        if proc is not None:
            terminate(proc, grace=15)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def tail(self, lines: int = 25) -> str:
        """The end of dovecot's log and of its own stderr."""
        stderr = self.root / "log" / "stderr.log"
        return (f"--- {self.log_path} ---\n{log_tail(self.log_path, lines)}\n"
                f"--- {stderr} ---\n{log_tail(stderr, lines)}")

    def _write_config(self) -> None:
        _check_traversable(_mkdir(self.root))
        owner = self.owner or mail_owner()
        for sub in ("run", "state", "log"):
            _mkdir(self.root / sub)
        _mkdir(self.root / "mail", owner)
        users = self.root / "users"
        users.write_text("".join(f"{a}:{self.hashed.get(a) or '{PLAIN}' + p}\n"
                                 for a, p in self.users.items()))
        users.chmod(0o644)  # test passwords; the auth process runs as dovecot
        for address in self.users:
            self._make_maildir(address, owner)
        self.config_path.write_text(_DOVECOT_CONF.format(
            host=LOOPBACK, root=self.root, instance=f"peer{os.getpid()}-{self.imap_port}",
            uid=owner.uid, gid=owner.gid, imap_port=self.imap_port, pop3_port=self.pop3_port)
            + self.extra_config)

    def _make_maildir(self, address: str, owner: MailOwner) -> Path:
        maildir = self.maildir(address)
        for folder in (maildir.parent.parent, maildir.parent, maildir):
            _mkdir(folder, owner, 0o700 if folder == maildir else 0o755)
        for sub in ("new", "cur", "tmp"):
            _mkdir(maildir / sub, owner, 0o700)
        return maildir

    def add_messages(self, user: str, messages: Iterable[bytes]) -> int:
        """Write messages straight into a user's INBOX (cur/, no flags); returns the count."""
        owner = self.owner or mail_owner()
        cur = self._make_maildir(user.lower(), owner) / "cur"
        stamp, count = int(time.time()), 0
        for count, data in enumerate(messages, 1):
            name = f"{stamp}.M{count:06d}P{os.getpid()}.peer,S={len(data)}:2,"
            path = cur / name
            path.write_bytes(data)
            os.chown(path, owner.uid, owner.gid)
            path.chmod(0o600)
        return count

    def prefill(self, user: str, count: int, size: int = 1024) -> list[bytes]:
        """Put count sample messages of about size bytes into a user's INBOX."""
        messages = [sample_message(i, size, recipient=user) for i in range(1, count + 1)]
        self.add_messages(user, messages)
        return messages

    def maildir_count(self, user: str) -> int:
        """Messages in a user's INBOX."""
        return _maildir_size(self.maildir(user))


# --- smtp-source and smtp-sink -------------------------------------------------------------


@dataclass(frozen=True)
class SourceResult:
    """One smtp-source run."""

    seconds: float
    rc: int
    output: str


def run_smtp_source(port: int, *, sessions: int = 1, messages: int = 1, size: int = 1024,
                    sender: str = "bench@source.test", recipient: str = "bench@example.test",
                    host: str = LOOPBACK, reuse_connection: bool = False,
                    helo: str = "source.test", timeout: float = 600.0) -> SourceResult:
    """Run Postfix's smtp-source; seconds is wall time, rc its exit status (1: a refusal)."""
    argv = [find_tool("smtp-source"), "-s", str(sessions), "-m", str(messages),
            "-l", str(size), "-f", sender, "-t", recipient, "-M", helo]
    if reuse_connection:
        argv.append("-d")
    argv.append(f"{host}:{port}")
    started = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return SourceResult(time.perf_counter() - started, -1, f"timed out after {timeout} s")
    return SourceResult(time.perf_counter() - started, proc.returncode,
                        (proc.stdout + proc.stderr).strip())


def smtp_source(port: int, *, sessions: int = 1, messages: int = 1, size: int = 1024,
                sender: str = "bench@source.test", recipient: str = "bench@example.test",
                reuse_connection: bool = False, timeout: float = 600.0) -> tuple[float, int]:
    """(seconds, rc) of one smtp-source run; see run_smtp_source for its output too."""
    result = run_smtp_source(port, sessions=sessions, messages=messages, size=size,
                             sender=sender, recipient=recipient,
                             reuse_connection=reuse_connection, timeout=timeout)
    return result.seconds, result.rc


_SINK_COUNT = re.compile(rb"mesg=(\d+)")


class SmtpSink(_Managed):
    """Postfix's smtp-sink: accepts every message and discards it, counting them."""

    def __init__(self, port: int, *, workdir: Path | None = None, backlog: int = 256) -> None:
        self.port = port
        self.backlog = backlog
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="posthouse-sink-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"smtp-sink-{self.port}.log"

    def start(self) -> Self:
        """Start smtp-sink on 127.0.0.1:port; PeerError if it does not listen."""
        argv = [find_tool("smtp-sink"), "-c"]
        if os.geteuid() == 0:
            argv += ["-u", mail_owner().name]  # it refuses to run as root
        argv += [f"{LOOPBACK}:{self.port}", str(self.backlog)]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._out = self.log_path.open("wb")
        proc = self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                            stderr=subprocess.STDOUT)
        self._started()
        wait_until(lambda: proc.poll() is not None or is_listening(self.port), 10)
        if proc.poll() is not None or not is_listening(self.port):
            self.stop()
            raise PeerError(f"smtp-sink did not start on port {self.port}:\n"
                            f"{log_tail(self.log_path)}")
        return self

    def stop(self) -> None:
        """Terminate the smtp-sink started here."""
        proc, self.proc = self.proc, None
        self._stopped()
        if proc is not None:
            terminate(proc, grace=10)
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def delivered(self) -> int:
        """Messages received so far (from the sink's -c counter)."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 256))
                found = _SINK_COUNT.findall(f.read())
        except OSError:
            return 0
        return int(found[-1]) if found else 0

    def wait_delivered(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until the sink has received at least count messages."""
        return wait_until(lambda: self.delivered() >= count, timeout, 0.02)


@contextlib.contextmanager
def smtp_sink(port: int, *, workdir: Path | None = None,
              backlog: int = 256) -> Iterator[SmtpSink]:
    """A running smtp-sink on 127.0.0.1:port for the duration of a with block."""
    with SmtpSink(port, workdir=workdir, backlog=backlog) as sink:
        yield sink
