"""``[log] format = "json"``: `posthouse serve` writes one JSON object per line on stderr,
with the fields of the text lines."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from posthouse.config import PROTOCOLS
from tests.support.server import read_until_ready


def test_serve_logs_json_lines(tmp_path: Path) -> None:
    data = tmp_path / "d"
    cli = [sys.executable, "-m", "posthouse"]
    subprocess.run([*cli, "init", "--data-dir", str(data)], capture_output=True, check=True)
    toml = data / "posthouse.toml"
    toml.write_text(toml.read_text() + '[log]\nformat = "json"\n')
    listen = [arg for proto in PROTOCOLS for arg in ("--listen", f"{proto}=127.0.0.1:0")]
    proc = subprocess.Popen([*cli, "serve", "--data-dir", str(data), *listen, "--allow-root"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = read_until_ready(proc, 120)
        assert out.rstrip().endswith("ready"), out
        port = int(re.search(r"^\s+http\s+127\.0\.0\.1:(\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok\n"
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    entries = [json.loads(line) for line in err.splitlines()]  # every line is one object
    request = next(e for e in entries if e["message"].startswith("request "))
    assert set(request) == {"time", "level", "logger", "sid", "message"}
    assert request["level"] == "INFO"
    assert request["logger"] == "posthouse.http"
    assert request["sid"].startswith("h")
    assert "path=/healthz status=200" in request["message"]
    assert any(e["message"] == "shutting down" for e in entries)
