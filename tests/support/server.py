"""A real posthouse server for tests: its own event loop in a thread, ports on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import subprocess
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from posthouse.app import App, build_hasher
from posthouse.auth.passwords import scram_secrets_for
from posthouse.config import (
    PROTOCOLS,
    AntiabuseConfig,
    AuthConfig,
    ChecksConfig,
    Config,
    ListenConfig,
    ServerConfig,
    tls_paths,
)

T = TypeVar("T")

DOMAIN = "example.test"
PASSWORD = "correct horse battery"


def make_config(data_dir: Path, **auth: Any) -> Config:
    """Every listener on 127.0.0.1:0, cheap argon2 (tests create many users), the port 25
    checks off (they need a DNS server: the tests of the checks start their own), no pause
    before the port 25 greeting and no rate limits (one loopback client sends everything;
    tests/integration/test_antiabuse_smtp.py sets its own)."""
    listen = ListenConfig(**{p: ["127.0.0.1:0"] for p in PROTOCOLS})
    auth_cfg = AuthConfig(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    auth_cfg = dataclasses.replace(auth_cfg, **auth)
    return Config(server=ServerConfig(hostname="mx.example.test", data_dir=str(data_dir)),
                  listen=listen, auth=auth_cfg, checks=NO_CHECKS,
                  antiabuse=NO_FILTERS)


NO_CHECKS = ChecksConfig(spf=False, dkim=False, dmarc=False, arc=False, iprev=False)
NO_FILTERS = AntiabuseConfig(
    greet_pause_ms=0, ip_messages_per_window=0, ip_recipients_per_window=0,
    sender_messages_per_window=0, sender_recipients_per_window=0,
    user_messages_per_window=0, user_recipients_per_window=0)


class ServerThread:
    """Runs an App on a private loop; ``call`` runs a coroutine there and waits for it."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.app = App(cfg)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        self.call(self.app.start())
        return self

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        try:
            self.call(self.app.stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def port(self, protocol: str) -> int:
        return self.app.port(protocol)

    @property
    def store(self) -> Any:
        return self.app.store

    def add_domain(self, domain: str = DOMAIN) -> None:
        if domain not in self.call(self.store.list_domains()):
            self.call(self.store.add_domain(domain))

    def add_user(self, address: str, password: str = PASSWORD, *, scram: bool = True,
                 **options: Any) -> Any:
        """An account as ``posthouse user add`` makes it; ``scram=False``: as made before
        SCRAM secrets existed (they come with its first password login)."""
        self.add_domain(address.rpartition("@")[2])
        secrets = scram_secrets_for(password) if scram else None
        user = self.call(self.store.add_user(address, build_hasher(self.cfg).hash(password),
                                             scram_secrets=secrets))
        if options:
            user = self.call(self.store.set_user_options(address, **options))
        return user

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate."""
        cert, _key = tls_paths(self.cfg)
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        return ctx

    def inbox(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        """The raw messages in a user's mailbox, in uid order."""
        return self.call(_read_mailbox(self.store, address, mailbox))


async def _read_mailbox(store: Any, address: str, mailbox: str) -> list[bytes]:
    user = await store.get_user(address)
    box = await store.get_mailbox(user.id, mailbox)
    rows = await store.uid_list(box.id)
    metas = await store.fetch_meta(box.id, [r.uid for r in rows])
    return [await store.read_blob(m.blob_id) for m in metas]


def read_until_ready(proc: subprocess.Popen[str], timeout: float) -> str:
    """What ``posthouse serve`` printed up to its "ready" line (or EOF, or the timeout)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.strip() == "ready":
            break
    return "".join(lines)
