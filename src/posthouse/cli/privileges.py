"""Root only as long as it is needed: the service user, creating it (``init`` as root), and the
privilege drop ``posthouse serve`` does once its ports are bound.

The drop, in this order, before any byte from the network is read and before the store opens
(so before the store's writer, checkpointer and indexer threads exist): hand the data dir to
the service user, ``initgroups`` (the user's own groups, none of root's), ``setgid``,
``setuid``; then check that it holds: ``setuid(0)`` fails, every thread of the process has
the user's uid and gid (glibc applies set*id to all threads) and no capability (effective,
permitted, ambient). Anything else stops the server with one line. no_new_privs is set when
``serve`` starts, before any thread exists.

Never imported by the server's packages: whether a process changes users is the command's
business, not the App's (tests run Apps in-process as whatever user they are).
"""

from __future__ import annotations

import ctypes
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from posthouse.cli.common import CliError
from posthouse.config import Config
from posthouse.provision import give_to

log = logging.getLogger("posthouse.privileges")

SERVICE_USER = "posthouse"  # [server] user when it is empty
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPS = ("CapEff", "CapPrm", "CapAmb")


@dataclass(frozen=True)
class ServiceUser:
    """The account the server runs as after the drop."""

    name: str
    uid: int
    gid: int


def service_user_name(cfg: Config) -> str:
    """[server] user, or "posthouse" when it is empty."""
    return cfg.server.user or SERVICE_USER


def plan_drop(cfg: Config) -> ServiceUser | None:
    """Who ``serve`` becomes after binding; None: nobody (not root, or allow_root).

    CliError (one line) when started as root and the service user is missing or is root
    itself, or when started as another user than a configured [server] user."""
    if os.geteuid() != 0:
        current = pwd.getpwuid(os.geteuid()).pw_name
        if cfg.server.user and cfg.server.user != current:
            raise CliError(f"[server] user is {cfg.server.user!r} but posthouse was started "
                           f"as {current!r}, not root: it cannot change users; start it as "
                           f"{cfg.server.user!r} or as root")
        return None
    if cfg.server.allow_root:
        log.warning("running as root: [server] allow_root = true, no privilege drop")
        return None
    name = service_user_name(cfg)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise CliError(f"refusing to serve as root: the service user {name!r} does not exist; "
                       f"run 'posthouse init' as root to create it (or "
                       f"'useradd --system --user-group --no-create-home --shell "
                       f"/usr/sbin/nologin {name}'), or set [server] allow_root = true"
                       ) from None
    if entry.pw_uid == 0:
        raise CliError(f"refusing to serve as root: [server] user {name!r} is root; name an "
                       "unprivileged user, or set [server] allow_root = true")
    return ServiceUser(name, entry.pw_uid, entry.pw_gid)


def drop_privileges(user: ServiceUser, cfg: Config, tls_files: tuple[Path, ...]) -> None:
    """Hand the data dir to ``user`` and become it for good (see the module docstring)."""
    root = cfg.data_path
    changed, failed = give_to(root, user.uid, user.gid)
    if changed:
        log.info("data directory %s: %d entries given to user %s", root, changed, user.name)
    if failed:
        log.error("data directory %s: %d entries could not be given to user %s",
                  root, failed, user.name)
    os.initgroups(user.name, user.gid)
    os.setgid(user.gid)
    os.setuid(user.uid)
    clear_capabilities()
    _check_dropped(user)
    if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
        raise CliError(f"data directory {root} is not usable by user {user.name!r} (is a "
                       "parent directory closed to it?): move it, e.g. to /var/lib/posthouse")
    for path in tls_files:
        if not os.access(path, os.R_OK):
            log.warning("%s is not readable by user %s: SIGHUP cannot reload it", path,
                        user.name)
    log.info("running as user %s (uid %d, gid %d)", user.name, user.uid, user.gid)


def set_no_new_privs() -> None:
    """No execve of this process may gain privileges (setuid binaries, file capabilities).

    Per thread and inherited by the threads it creates: ``serve`` sets it first, before the
    event loop and before any thread exists."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


def clear_capabilities() -> None:
    """Give up every capability the calling thread still holds: the ambient set, then
    effective, permitted and inheritable (a non-root process started with
    AmbientCapabilities= keeps CAP_NET_BIND_SERVICE otherwise).

    Capabilities are per thread and capset() changes the caller's only: threads created
    before this call keep theirs (see README, 'Running in production')."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if any(capabilities().values()):
        _capset_empty(libc)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


def _capset_empty(libc: ctypes.CDLL) -> None:
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def capabilities(pid: int | str = "self") -> dict[str, int]:
    """CapEff, CapPrm and CapAmb of a process, from /proc/<pid>/status."""
    caps: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in _CAPS:
            caps[key] = int(value, 16)
    return caps


def _check_dropped(user: ServiceUser) -> None:
    """Refuse to go on unless root is gone from every thread for good."""
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise CliError("privilege drop failed: setuid(0) succeeded after dropping to "
                       f"{user.name!r}")
    for status in Path("/proc/self/task").glob("*/status"):
        # glibc's setxid broadcast made every thread (uvloop's resolver threads exist since
        # the bind) call setuid too, and the kernel cleared their capabilities as it did ours.
        ids = {}
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                ids[key] = {int(v) for v in value.split()}
            elif key in _CAPS and int(value, 16):
                ids[key] = {int(value, 16)}
        if ids != {"Uid": {user.uid}, "Gid": {user.gid}}:
            raise CliError(f"privilege drop failed: thread {status.parent.name} still has "
                           f"{ids}")


def ensure_service_user(cfg: Config) -> ServiceUser | None:
    """``init`` as root: create the service user if missing (a system account with its own
    group, no home, no login shell) and give it the data dir. None when not root or when
    [server] allow_root is set (nothing will be dropped to)."""
    if os.geteuid() != 0 or cfg.server.allow_root:
        return None
    name = service_user_name(cfg)
    try:
        pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        cmd = [useradd, "--system", "--user-group", "--no-create-home",
               "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise CliError(f"cannot create the service user {name!r}: "
                           f"{' '.join(proc.stderr.split()) or 'useradd failed'}") from None
        log.info("created the service user %s", name)
    entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise CliError(f"[server] user {name!r} is root: name an unprivileged user")
    user = ServiceUser(name, entry.pw_uid, entry.pw_gid)
    give_to(cfg.data_path, user.uid, user.gid)
    return user

