"""pebble, Let's Encrypt's ACME test server (Debian's /usr/bin/pebble), on loopback.

Its own HTTPS certificate comes from the test CA (``ca_file`` trusts it); the challenges
it validates go to ``tls_port`` (tls-alpn-01) and ``http_port`` (http-01) on the addresses
the test DNS server gives (``dns``: 127.0.0.1 for every name the test adds). Validation does
not sleep and nonces are never refused at random unless ``nonce_reject`` asks (percent), so
a run is deterministic.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.dnsserver import DnsServer
from tests.support.peers import free_port
from tests.support.test_ca import TestCa

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"


class Pebble:
    """One pebble process; ``start()`` waits until its directory answers."""

    def __init__(
        self,
        workdir: Path,
        *,
        tls_port: int,
        http_port: int,
        names: list[str],
        validity_days: int = 90,
        nonce_reject: int = 0,
    ) -> None:
        self.workdir = workdir
        self.nonce_reject = nonce_reject  # percent of good nonces refused as badNonce
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca = TestCa(workdir / "ca")
        chain, key, _ = self.ca.issue("localhost")
        self.port = free_port()
        self.management_port = free_port()
        self.dns = DnsServer({n: {"A": ["127.0.0.1"]} for n in names})
        self.config = workdir / "pebble-config.json"
        self.config.write_text(
            json.dumps(
                {
                    "pebble": {
                        "listenAddress": f"127.0.0.1:{self.port}",
                        "managementListenAddress": f"127.0.0.1:{self.management_port}",
                        "certificate": str(chain),
                        "privateKey": str(key),
                        "httpPort": http_port,
                        "tlsPort": tls_port,
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": False,
                        "certificateValidityPeriod": validity_days * 86400,
                    }
                }
            )
        )
        self.log = workdir / "pebble.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> str:
        """The ACME directory URL."""
        return f"https://localhost:{self.port}/dir"

    @property
    def ca_file(self) -> str:
        """Trust anchor of pebble's own HTTPS (the directory), for [tls] acme_ca_file."""
        return str(self.ca.pem_path)

    def start(self) -> Pebble:
        self.dns.start()
        return self._run()

    def restart(self) -> Pebble:
        """A fresh pebble on the same ports: it has forgotten every account and order, and
        signs with a new root and intermediate."""
        self._terminate()
        return self._run()

    def _run(self) -> Pebble:
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": str(self.nonce_reject),
            "PEBBLE_AUTHZREUSE": "0",
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [PEBBLE, "-config", str(self.config), "-dnsserver", self.dns.address],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self._get(self.directory)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"pebble did not start: {self.log.read_text()}")

    def stop(self) -> None:
        """Stop pebble (only the process this object started) and its DNS server."""
        self._terminate()
        if self.dns._thread.is_alive():
            self.dns.stop()

    def _terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def root_pem(self) -> bytes:
        """The root pebble signs its intermediates with (made anew at each start)."""
        return self._get(f"https://localhost:{self.management_port}/roots/0")

    def intermediate_pem(self) -> bytes:
        return self._get(f"https://localhost:{self.management_port}/intermediates/0")

    def _get(self, url: str) -> bytes:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        with urllib.request.urlopen(url, context=ctx, timeout=10) as response:  # noqa: S310
            data: bytes = response.read()
            return data
