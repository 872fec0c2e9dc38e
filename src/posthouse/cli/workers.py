"""``posthouse serve`` with several worker processes (``[server] workers``).

The parent does what must happen once and as root: it binds every listener, drops its
privileges (cli/privileges.py), makes the data dir private and takes its lock
(store/datalock.py: held for as long as the parent lives, so admin commands see a running
server). Then it forks the workers, each a whole App (app.py ``WorkerPlan``) on a fresh
event loop over the same store, sharing the parent's listening sockets: the kernel hands
each new connection to one of the processes waiting on the socket. Worker 0, the primary,
starts first and alone (it repairs and sweeps the store at open); the others follow once it
is ready. The primary also serves HTTP and runs the queue, ACME and TLS reports.

The parent reads no network input and runs no event loop or thread: it waits for its
children. A worker that dies is started again (after a second); when the primary dies the
others are stopped and everything starts again in order, since a primary opening the store
beside running siblings could sweep their fresh blob files. More than RESTART_LIMIT deaths
within RESTART_WINDOW seconds stop the server (exit 1). SIGTERM/SIGINT go to every worker
(each shuts down gracefully) and the parent exits once they are gone; SIGHUP is passed on.
A worker dies with the parent (PR_SET_PDEATHSIG), so a killed parent leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from posthouse.app import WorkerPlan, serves_everywhere
from posthouse.cli.common import CliError
from posthouse.config import PROTOCOLS, Config, parse_hostport
from posthouse.net.listeners import ListenError, bind_socket
from posthouse.provision import make_private
from posthouse.store.datalock import RUN_DIR, DataDirBusy, DataDirLock

log = logging.getLogger("posthouse.workers")

RESTART_DELAY = 1.0
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
STOP_TIMEOUT = 60.0  # after SIGTERM, a worker still running is killed
_PR_SET_PDEATHSIG = 1


def worker_count(cfg: Config) -> int:
    """How many worker processes: ``[server] workers``, 0 meaning one per CPU."""
    return cfg.server.workers or os.cpu_count() or 1


def bind_all(cfg: Config) -> dict[tuple[str, str], socket.socket]:
    """Every enabled listener's socket, by protocol and configured address."""
    sockets: dict[tuple[str, str], socket.socket] = {}
    try:
        for proto in PROTOCOLS:
            if proto in ("http", "https") and not cfg.http.enabled:
                continue
            for addr in getattr(cfg.listen, proto):
                host, port = parse_hostport(addr)
                sockets[(proto, addr)] = bind_socket(proto, host, port)
    except ListenError as exc:
        for sock in sockets.values():
            sock.close()
        raise CliError(str(exc)) from None
    return sockets


def run_workers(cfg: Config, count: int, first_user: str | None,
                drop: Callable[[], None]) -> int:
    """Serve with ``count`` worker processes until signalled."""
    from posthouse.cli.serve import print_banner

    sockets = bind_all(cfg)
    drop()  # root no longer: before any store file is touched or any worker exists
    changed, _failed = make_private(cfg.data_path)
    if changed:
        log.warning("data directory %s: took group/other access away from %d entries",
                    cfg.data_path, changed)
    lock = DataDirLock(cfg.data_path)
    try:
        lock.acquire()
    except DataDirBusy as exc:
        raise CliError(str(exc)) from None
    run_dir = cfg.data_path / RUN_DIR
    run_dir.mkdir(mode=0o700, exist_ok=True)
    parent = WorkerParent(cfg, count, sockets, run_dir)
    try:
        if not parent.start_all():
            return 1
        bound: dict[str, list[tuple[str, int]]] = {}
        for (proto, _addr), sock in sockets.items():
            host, port = sock.getsockname()[:2]
            bound.setdefault(proto, []).append((str(host), int(port)))
        print_banner(cfg, bound, first_user, count)
        print("ready", flush=True)
        return parent.supervise()
    finally:
        parent.stop_all()
        for sock in sockets.values():
            sock.close()
        lock.release()


class WorkerParent:
    """Forks, watches and stops the worker processes."""

    def __init__(self, cfg: Config, count: int,
                 sockets: dict[tuple[str, str], socket.socket], run_dir: Path) -> None:
        self.cfg = cfg
        self.count = count
        self.sockets = sockets
        self.run_dir = run_dir
        self.pids: dict[int, int] = {}  # pid -> worker index
        self.auth_cache_key = secrets.token_bytes(32)  # shared by the workers' login caches
        self._stopping = False
        self._deaths: list[float] = []

    # --- starting -------------------------------------------------------------------------

    def start_all(self) -> bool:
        """The primary, once ready the others; False if one died before it was ready."""
        self._install_signals()
        if not self._start(0):
            return False
        return all(self._start(index) for index in range(1, self.count))

    def _start(self, index: int) -> bool:
        """Fork worker ``index`` and wait until it accepts; False if it died first."""
        if threading.active_count() > 1:
            log.warning("forking a worker beside %d threads", threading.active_count() - 1)
        ready_r, ready_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            _worker_process(self.cfg, self._plan(index), ready_w, parent)
        os.close(ready_w)
        self.pids[pid] = index
        try:
            return self._wait_ready(pid, ready_r)
        finally:
            os.close(ready_r)

    def _plan(self, index: int) -> WorkerPlan:
        sockets = {key: sock for key, sock in self.sockets.items()
                   if index == 0 or serves_everywhere(self.cfg, key[0])}
        return WorkerPlan(index=index, count=self.count, sockets=sockets,
                          run_dir=self.run_dir, auth_cache_key=self.auth_cache_key)

    def _wait_ready(self, pid: int, ready_r: int) -> bool:
        while not self._stopping:
            readable, _w, _x = select.select([ready_r], [], [], 0.5)
            if readable:
                if os.read(ready_r, 1) == b"r":
                    return True
                break  # the pipe closed without the byte: the worker is ending
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                index = self.pids.pop(pid, -1)
                log.error("worker %d (pid %d) ended before it was ready", index, pid)
                return False
        return False

    # --- running --------------------------------------------------------------------------

    def supervise(self) -> int:
        """Wait for the workers; start the ones that die again; 0 once stopped by a
        signal, 1 when they die too often."""
        while self.pids:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = self.pids.pop(pid, None)
            if index is None or self._stopping:
                continue
            log.error("worker %d (pid %d) ended unexpectedly (%s)", index, pid,
                      _describe(status))
            now = time.monotonic()
            self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
            if len(self._deaths) > RESTART_LIMIT:
                log.error("workers died %d times within %d seconds: stopping",
                          len(self._deaths), RESTART_WINDOW)
                return 1
            time.sleep(RESTART_DELAY)
            if self._stopping:
                continue
            if index == 0:  # the others must not run while a primary opens the store
                self.stop_all()
                self._stopping = False
                if not self.start_all():
                    return 1
            elif not self._start(index):
                return 1
        return 0

    def stop_all(self) -> None:
        """SIGTERM every worker, wait for them (SIGKILL after STOP_TIMEOUT)."""
        self._stopping = True
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.pids:
            pid, _status = os.waitpid(-1, os.WNOHANG)
            if pid:
                self.pids.pop(pid, None)
                continue
            if time.monotonic() > deadline:
                self._signal_all(signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)

    def _install_signals(self) -> None:
        def stop(_signum: int, _frame: object) -> None:
            self._stopping = True
            self._signal_all(signal.SIGTERM)

        def hup(_signum: int, _frame: object) -> None:
            self._signal_all(signal.SIGHUP)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    def _signal_all(self, signum: int) -> None:
        for pid in list(self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def _worker_process(cfg: Config, plan: WorkerPlan, ready_w: int, parent: int) -> NoReturn:
    """The child side of the fork: run the worker's App, never return."""
    code = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        _die_with_parent(parent)
        from posthouse.cli.serve import run_in_loop

        code = run_in_loop(_serve_worker(cfg, plan, ready_w))
    except BaseException:  # a worker must end here, never return into the parent's code
        log.exception("worker %d failed", plan.index)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


async def _serve_worker(cfg: Config, plan: WorkerPlan, ready_w: int) -> int:
    from posthouse.app import App

    app = App(cfg, plan=plan)
    await app.start()

    def ready() -> None:
        os.write(ready_w, b"r")
        os.close(ready_w)
        log.info("worker %d (pid %d) ready", plan.index, os.getpid())

    await app.run_until_signalled(on_ready=ready)
    return 0


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux), and check it still lives."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
