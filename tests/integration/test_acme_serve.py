"""`posthouse serve` as a child process with `[tls] acme = true` against pebble: the
certificate arrives without anyone asking, `posthouse acme renew` and SIGHUP renew it while
the server runs, and SIGTERM still stops it cleanly."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.test_acme_pebble import NAMES, served_certificate
from tests.support.pebble import PEBBLE, Pebble
from tests.support.peers import free_port
from tests.support.server import read_until_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(PEBBLE), reason="pebble not installed"),
]

LISTENERS = ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s")


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120  # a bound against hanging, not a timing assertion
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def _leaf(live: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(live.read_bytes())
    except (OSError, ValueError):
        return None


def _presented(port: int, root: bytes) -> x509.Certificate | None:
    """The verified certificate on ``port``, None while it is still the self-signed one."""
    try:
        return served_certificate(port, root)
    except ssl.SSLError:
        return None


def test_serve_obtains_and_renews_on_sighup(tmp_path: Path) -> None:
    ports = {name: free_port() for name in (*LISTENERS, "http", "https")}
    pebble = Pebble(
        tmp_path / "pebble", tls_port=ports["https"], http_port=ports["http"], names=NAMES
    ).start()
    data = tmp_path / "data"
    config = tmp_path / "posthouse.toml"
    listen = "\n".join(f'{name} = ["127.0.0.1:{port}"]' for name, port in ports.items())
    config.write_text(
        f'[server]\nhostname = "mx.example.test"\ndata_dir = "{data}"\n'
        f'default_domain = "example.test"\nallow_root = true\n'
        f"[listen]\n{listen}\n"
        f'[tls]\nacme = true\nacme_directory = "{pebble.directory}"\n'
        f'acme_ca_file = "{pebble.ca_file}"\nacme_challenges = ["http-01"]\n'
        f"[checks]\nspf = false\ndkim = false\ndmarc = false\narc = false\niprev = false\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "posthouse", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        out = read_until_ready(proc, 120)
        assert out.rstrip().endswith("ready"), out
        live = data / "acme" / "live.pem"
        root = pebble.root_pem()
        # Written, then installed: wait until the listeners present what the file holds.
        _wait_until(
            lambda: (
                _leaf(live) is not None and served_certificate(ports["https"], root) == _leaf(live)
            )
        )
        first = _leaf(live)
        assert first is not None
        for proto in ("imaps", "https", "pop3s", "submissions"):
            assert served_certificate(ports[proto], root) == first

        renew = subprocess.run(
            [sys.executable, "-m", "posthouse", "acme", "renew", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert renew.returncode == 0, renew.stderr
        proc.send_signal(signal.SIGHUP)
        _wait_until(
            lambda: (leaf := _leaf(live)) is not None and leaf.serial_number != first.serial_number
        )
        renewed = _leaf(live)
        assert served_certificate(ports["imaps"], root) == renewed
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        assert proc.stdout is not None
        proc.stdout.close()
        pebble.stop()
    assert code == 0
