"""A server whose remote mail goes to a scripted peer and is DKIM-signed, and dkimpy's
verdict on what the peer received (with the server's own key as the only DNS record)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dkim

from posthouse.config import Config, QueueConfig, dkim_key_path
from posthouse.provision import dkim_public_record, ensure_dkim_key
from tests.support.server import ServerThread, make_config


def signing_config(data_dir: Path, peer_port: int) -> Config:
    """remote.example's mail goes to the peer (a transport entry: no DNS); the server signs
    with a DKIM key of its data dir, as in production."""
    cfg = make_config(data_dir)
    cfg = dataclasses.replace(cfg, queue=QueueConfig(
        transport={"remote.example": f"127.0.0.1:{peer_port}"}, mta_sts=False,
        tlsrpt=False))
    ensure_dkim_key(dkim_key_path(cfg))
    return cfg


def dkim_valid(server: ServerThread, data: bytes) -> bool:
    """dkimpy's verdict on ``data`` with the server's public key as the only DNS record."""
    record = dkim_public_record(dkim_key_path(server.cfg)).encode()
    name = f"{server.cfg.dkim.selector}._domainkey.example.test."

    def lookup(qname: bytes, timeout: float = 5) -> bytes | None:
        del timeout
        return record if qname.decode().lower() == name else None

    return bool(dkim.verify(data, dnsfunc=lookup))
