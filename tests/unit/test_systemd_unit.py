"""Issue 12, defect 5: the shipped systemd unit (contrib/systemd/posthouse.service) is valid
for systemd-analyze, sandboxes the server, and starts it the way the CLI parses.

The server's behaviour under the unit's privileges (user posthouse, only CAP_NET_BIND_SERVICE
in the ambient and bounding sets) is tested over sockets in
tests/integration/test_privilege_drop.py; this container has no systemd to start it under.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from posthouse.cli.main import build_parser

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "posthouse.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_is_sandboxed_and_never_root() -> None:
    d = directives()
    assert d["User"] == ["posthouse"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["ReadWritePaths"] == ["/var/lib/posthouse"]
    for key in ("PrivateTmp", "NoNewPrivileges", "ProtectHome", "PrivateDevices"):
        assert d[key] == ["yes"], key
    assert d["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert d["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert d["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert d["SystemCallFilter"][0] == "@system-service"
    assert d["UMask"] == ["0077"]


def test_execstart_is_a_serve_command_line() -> None:
    (exec_start,) = directives()["ExecStart"]
    argv = shlex.split(exec_start)
    assert Path(argv[0]).name == "posthouse"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve"
    assert args.data_dir == Path("/var/lib/posthouse")


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd; "
                    "scripts/debian-tools.sh installs it)")
    # verify checks that ExecStart's program exists: point it at this checkout's posthouse.
    posthouse = Path(sys.executable).parent / "posthouse"
    if not posthouse.exists():
        pytest.skip(f"{posthouse} not installed (run scripts/bootstrap.sh dev)")
    unit = tmp_path / "posthouse.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/posthouse", str(posthouse)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    problems = [line for line in proc.stderr.splitlines() if "posthouse.service" in line]
    assert problems == [], proc.stderr
