"""First-run provisioning of a data directory: config file, TLS certificate, DKIM key, and
the DNS records to publish for it; and keeping the data directory the owner's only (and the
service user's, when the server starts as root).

Pure file work, used by ``posthouse init``, ``posthouse dns`` and by ``posthouse serve`` on an
empty data dir. Where the files go is config.py's (DataPaths, tls_paths, dkim_key_path).
"""

from __future__ import annotations

import base64
import os
import stat
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from posthouse.config import Config, tls_paths
from posthouse.net.tls import generate_self_signed
from posthouse.web.mta_sts import mta_sts_policy, policy_id

# The data dir holds every message, the password hashes and the private keys: whatever
# posthouse creates is its owner's only (directories 0700, files 0600). The CLI sets this
# umask before any command runs, App.start for as long as a server runs.
PRIVATE_UMASK = 0o077


def disk_usage(root: Path) -> int:
    """Bytes the files under ``root`` take on disk (allocated blocks; files that vanish
    meanwhile are skipped). Blocking: a walk over every blob."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total


def make_private(root: Path) -> tuple[int, int]:
    """Take group and other access away from ``root`` and everything under it.

    Returns (entries changed, entries that could not be changed). Symbolic links under root
    are left alone and not followed: a chmod would change what they point at, which may lie
    outside the data dir. A missing ``root`` has nothing to fix."""
    if not root.is_dir():
        return 0, 0
    outcomes = Counter([_take_away_group_other(str(root), follow=True)])  # root may be a link
    for folder, dirs, files in os.walk(root):
        outcomes.update(_take_away_group_other(os.path.join(folder, name), follow=False)
                        for name in (*dirs, *files))
    return outcomes[True], outcomes[False]


def _take_away_group_other(path: str, *, follow: bool) -> bool | None:
    """True if the mode was changed, False if it could not be, None if it was private."""
    try:
        mode = os.stat(path).st_mode if follow else os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return None
        os.chmod(path, stat.S_IMODE(mode) & ~0o077)
    except FileNotFoundError:
        return None  # gone since the listing (a temporary file)
    except OSError:
        return False  # not ours to change (another owner)
    return True


def give_to(root: Path, uid: int, gid: int) -> tuple[int, int]:
    """Make ``uid``:``gid`` the owner of ``root`` and everything under it (run as root, before
    the server drops to that user).

    Only entries owned by someone else (root, after ``posthouse`` ran as root, or a restored
    backup) are changed; returns (entries changed, entries that could not be). Symbolic links
    under root are neither changed nor followed, as in make_private."""
    if not root.is_dir():
        return 0, 0
    outcomes = Counter([_chown(str(root), uid, gid, follow=True)])
    for folder, dirs, files in os.walk(root):
        outcomes.update(_chown(os.path.join(folder, name), uid, gid, follow=False)
                        for name in (*dirs, *files))
    return outcomes[True], outcomes[False]


def _chown(path: str, uid: int, gid: int, *, follow: bool) -> bool | None:
    """True if the owner was changed, False if it could not be, None if it was right."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or (st.st_uid, st.st_gid) == (uid, gid):
            return None
        os.chown(path, uid, gid, follow_symlinks=follow)
    except FileNotFoundError:
        return None
    except OSError:
        return False
    return True


def ensure_tls(cfg: Config) -> None:
    """Generate a self-signed certificate when none is configured and none exists yet."""
    if cfg.tls.cert:
        return
    cert, key = tls_paths(cfg)
    if not cert.exists() or not key.exists():
        generate_self_signed(cert, key, cfg.server.hostname)


def ensure_dkim_key(path: Path) -> None:
    """Create an RSA-2048 DKIM key (PKCS#8 PEM, mode 0600) if absent."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def dkim_public_record(path: Path) -> str:
    """The TXT value to publish at <selector>._domainkey.<domain> (RFC 6376 3.6.1)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def write_config(path: Path, *, data_dir: Path, hostname: str, domain: str) -> None:
    """Write a minimal config file; everything not written keeps its default."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# posthouse configuration. Every setting not written here has its default;\n"
        "# see README.md, 'Configuration reference'.\n"
        "[server]\n"
        f'hostname = "{hostname}"\n'
        f'data_dir = "{data_dir}"\n'
        f'default_domain = "{domain}"\n',
        encoding="utf-8",
    )


def transport_security_records(*, domain: str, hostname: str, mode: str = "testing",
                               max_age: int = 604800) -> list[str]:
    """The MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3) records and the policy file, as
    lines for an operator; the id follows the policy text the HTTPS listener serves
    (web/mta_sts.py, ``[http] mta_sts_mode``), so it changes when it does."""
    policy = mta_sts_policy(hostname, mode, max_age)
    return [
        f'_mta-sts.{domain}. TXT "v=STSv1; id={policy_id(policy)}"',
        f'_smtp._tls.{domain}. TXT "v=TLSRPTv1; rua=mailto:postmaster@{domain}"',
        f"mta-sts.{domain}. CNAME {hostname}.",
        f"; posthouse serves at https://mta-sts.{domain}/.well-known/mta-sts.txt (text/plain, "
        f"with a certificate valid for mta-sts.{domain}):",
        *(f";   {line}" for line in policy.splitlines()),
        f"; the PTR record of this server's address must name {hostname}, and {hostname} "
        "must resolve back to it",
    ]


def dns_records(*, domain: str, hostname: str, selector: str, dkim_record: str) -> list[str]:
    """The DNS records an operator publishes for a domain served by this host."""
    return [
        f"{domain}. MX 10 {hostname}.",
        f'{domain}. TXT "v=spf1 mx -all"',
        f'{selector}._domainkey.{domain}. TXT "{dkim_record}"',
        f'_dmarc.{domain}. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"',
        f"_submissions._tcp.{domain}. SRV 0 1 465 {hostname}.",
        f"_submission._tcp.{domain}. SRV 0 1 587 {hostname}.",
        f"_imaps._tcp.{domain}. SRV 0 1 993 {hostname}.",
        f"_pop3s._tcp.{domain}. SRV 10 1 995 {hostname}.",
        f"autoconfig.{domain}. CNAME {hostname}.",
    ]
