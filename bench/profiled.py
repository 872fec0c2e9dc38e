"""Run a posthouse command under cProfile on every thread; merged stats go to a file on exit.

    python -m bench.profiled [--clock wall] OUT.prof serve --data-dir D ...  # --profile
    python -m bench.profiled --show OUT.prof [N]                              # the top N again

posthouse spreads its work over the event loop thread, the store's writer thread, its reader
and blob-I/O pools and asyncio.to_thread (argon2, DKIM): a plain ``python -m cProfile`` sees the
event loop only. Each new thread gets its own profiler (threading.setprofile); when the command
returns (serve does on SIGTERM) they are merged into one pstats file.

The clock is each thread's CPU time by default: a thread waiting for the GIL, a lock, the disk
or the network costs nothing, so the figures are where the CPU goes (the GIL makes that the
limit). ``--clock wall`` measures wall time instead (waits included: latency, not cost).
Profiling slows posthouse down: compare its figures with a profiled run only, never the peer's.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


def run_profiled(out: Path, argv: list[str], clock: str = "cpu") -> int:
    """posthouse's main(argv) with every thread profiled; stats dumped to out."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    timer = CLOCKS[clock]

    def profile_this_thread(_frame: FrameType, _event: str, _arg: Any) -> None:
        prof = cProfile.Profile(timer)  # replaces this hook for the rest of the thread
        with lock:
            profiles.append(prof)
        prof.enable()

    from posthouse.cli.main import main

    threading.setprofile(profile_this_thread)
    own = cProfile.Profile(timer)
    own.enable()
    try:
        return main(argv)
    finally:
        own.disable()
        threading.setprofile(None)
        stats = pstats.Stats(own)
        with lock:
            others = list(profiles)
        for prof in others:  # the server has stopped: these threads have ended or sleep
            stats.add(pstats.Stats(prof))
        stats.dump_stats(str(out))


def report(path: Path, top: int = 25) -> str:
    """The top functions by own time and, for posthouse's code, by cumulative time."""
    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf).strip_dirs()
    buf.write(f"--- profile {path}: top {top} by own time (all threads) ---\n")
    stats.sort_stats("tottime").print_stats(top)
    buf.write(f"--- top {top} posthouse functions by cumulative time ---\n")
    full = pstats.Stats(str(path), stream=buf)
    full.sort_stats("cumulative").print_stats(r"posthouse/(?!cli/|__main__)", top)
    return buf.getvalue()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--show"] and len(argv) >= 2:
        print(report(Path(argv[1]), int(argv[2]) if len(argv) > 2 else 25))
        return 0
    clock = "cpu"
    if argv[:1] == ["--clock"] and len(argv) >= 2 and argv[1] in CLOCKS:
        clock, argv = argv[1], argv[2:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run_profiled(Path(argv[0]), argv[1:], clock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
