"""A private rspamd (Debian's package) for tests: Debian's rules, our own variables.

It reads /etc/rspamd/rspamd.conf with LOCAL_CONFDIR, DBDIR, RUNDIR and LOGDIR pointed into a
temporary directory; override.d binds the normal, controller and proxy workers to free
127.0.0.1 ports, logs to the console, treats no address as local (loopback clients get
scanned as any other), and points its DNS at a dead loopback port, so nothing leaves the
machine. No Redis: the modules that need it stay off. Started with ``--insecure`` because
tests run as root.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
START_SECONDS = 90  # first start compiles its regular expressions (about 15 s here)


# Recipients whose mail rspamd handles with one action whatever the score: name, the
# action thresholds, other settings.
SETTINGS = (
    ("junk", 'reject = 1000; "add header" = -1000; greylist = null; "rewrite subject" = null;',
     ""),
    ("subject", 'reject = 1000; "rewrite subject" = -1000; "add header" = null; '
     'greylist = null;', 'subject = "[SPAM] %s";'),
    ("grey", 'reject = 1000; greylist = -1000; "add header" = null; '
     '"rewrite subject" = null;', ""),
)


def available() -> str | None:
    """None when rspamd can run here, else why not (for a skip)."""
    if not Path(RSPAMD).exists():
        return "rspamd is not installed (scripts/debian-tools.sh installs it)"
    if not Path("/etc/rspamd/rspamd.conf").exists():
        return "rspamd's configuration /etc/rspamd/rspamd.conf is missing"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RspamdServer:
    """``start()`` runs rspamd in ``root``; ``url`` is its normal worker; ``stop()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        override = self.root / "local" / "override.d"
        override.mkdir(parents=True)
        for sub in ("db", "run", "log"):
            (self.root / sub).mkdir()
        (override / "worker-normal.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n')
        (override / "worker-controller.inc").write_text(
            f'bind_socket = "127.0.0.1:{_free_port()}";\n')
        (override / "worker-proxy.inc").write_text(
            f'bind_socket = "127.0.0.1:{_free_port()}";\n')
        (override / "logging.inc").write_text('type = "console";\nlevel = "error";\n')
        (override / "options.inc").write_text(
            'local_addrs = [];\ngtube_patterns = "all";\n'
            'dns { nameserver = ["127.0.0.1:1"]; timeout = 1s; retransmits = 1; }\n')

        # Per-recipient settings (rspamd's settings module): each action on demand.
        rules = "".join(
            f'{name} {{ rcpt = "{name}@example.test"; apply {{ actions {{ {actions} }} '
            f'{extra} }} }}\n' for name, actions, extra in SETTINGS)
        (self.root / "local" / "local.d").mkdir()
        (self.root / "local" / "local.d" / "settings.conf").write_text(rules)
        # "soft reject" has no score threshold: a multimap prefilter forces it.
        later = self.root / "later.map"
        later.write_text("later@example.test\n")
        (self.root / "local" / "local.d" / "multimap.conf").write_text(
            f'LATER_RCPT {{ type = "rcpt"; map = "{later}"; prefilter = true; '
            'action = "soft reject"; message = "Try again later"; }\n')

    def start(self) -> RspamdServer:
        self._write_config()
        r = self.root
        self._log = (r / "out.log").open("wb")
        self.proc = subprocess.Popen(
            [RSPAMD, "-f", "-i", "-u", "root", "-g", "root", "-c", "/etc/rspamd/rspamd.conf",
             f"--var=LOCAL_CONFDIR={r / 'local'}", f"--var=DBDIR={r / 'db'}",
             f"--var=RUNDIR={r / 'run'}", f"--var=LOGDIR={r / 'log'}"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rspamd exited: {(r / 'out.log').read_text()[-2000:]}")
            try:
                ping = self.url + "/ping"  # our own loopback http URL
                with urllib.request.urlopen(ping, timeout=2) as answer:  # noqa: S310
                    if answer.read().strip() == b"pong":
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("rspamd did not answer /ping in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the main process stops its own workers
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
