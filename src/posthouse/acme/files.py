"""The ACME files of the data dir (``<data_dir>/acme``, owner-only): the account key, the
account URL per directory, and the live certificate (key and chain in one file, replaced
atomically so a reload never sees a key without its certificate).

Where the live file is, config.py's DataPaths says (tls_paths picks it); this module
writes it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from cryptography import x509

from posthouse.acme.jws import AccountKey


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename), mode 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AcmeFiles:
    """The files under ``root`` (<data_dir>/acme); ``live`` is the certificate in use."""

    def __init__(self, root: Path, live: Path) -> None:
        self.root = root
        self.live = live

    @property
    def challenges(self) -> Path:
        """Where the tls-alpn-01 certificates are written while they are loaded."""
        return self.root / "challenges"

    def account_key(self) -> AccountKey:
        """The account key, made on first use."""
        path = self.root / "account.key"
        if path.is_file():
            return AccountKey.from_pem(path.read_bytes())
        key = AccountKey.generate()
        write_private(path, key.to_pem())
        return key

    def account_url(self, directory: str) -> str:
        """The account URL registered at ``directory``, or ""."""
        return str(self._accounts().get(directory, ""))

    def save_account_url(self, directory: str, url: str) -> None:
        accounts = self._accounts()
        accounts[directory] = url
        write_private(
            self.root / "accounts.json",
            json.dumps(accounts, indent=1, sort_keys=True).encode("utf-8"),
        )

    def _accounts(self) -> dict[str, str]:
        path = self.root / "accounts.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def current(self) -> x509.Certificate | None:
        """The live leaf certificate, or None when there is none (or it is unreadable)."""
        try:
            return x509.load_pem_x509_certificate(self.live.read_bytes())
        except (OSError, ValueError):
            return None

    @property
    def _renewal_flag(self) -> Path:
        return self.root / "renew-requested"

    def request_renewal(self) -> None:
        """Ask the server to renew at its next check, due or not (``posthouse acme renew``)."""
        write_private(self._renewal_flag, b"renew at the next check\n")

    def renewal_requested(self) -> bool:
        return self._renewal_flag.exists()

    def clear_renewal_request(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._renewal_flag.unlink()

    def save_live(self, key_pem: bytes, chain_pem: bytes) -> None:
        """Replace the live certificate: chain first (the leaf leads), then the key."""
        write_private(self.live, chain_pem.rstrip(b"\n") + b"\n" + key_pem)
