"""imapflow (Node, from the npm registry) resyncs with QRESYNC against posthouse.

The client lives in tests/interop/imapflow (``scripts/bootstrap.sh dev`` runs ``npm ci``
there; node_modules is not committed). It enables QRESYNC, opens INBOX with its last
UIDVALIDITY and HIGHESTMODSEQ,
and fetches with CHANGEDSINCE: only the changed messages come back, the expunged ones as
VANISHED (EARLIER) (RFC 7162 3.2.5, 3.2.6).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.imap_msg_support import USER, RawImap, claim_recent, fill, message
from tests.support.server import PASSWORD, ServerThread

HERE = Path(__file__).parent / "imapflow"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node not installed"),
    pytest.mark.skipif(not (HERE / "node_modules" / "imapflow").is_dir(),
                       reason="imapflow not installed (scripts/bootstrap.sh dev runs npm ci)"),
]


def test_imapflow_qresync_changedsince(server: ServerThread) -> None:
    server.add_user(USER)
    for n in range(1, 21):
        fill(server, message(n))
    claim_recent(server)
    with RawImap(server) as a:
        lines = a.ok("SELECT INBOX")
        text = b"".join(lines)
        uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", text)[1])  # type: ignore[index]
        modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", text)[1])  # type: ignore[index]
        a.ok("UID STORE 4,9 +FLAGS.SILENT (\\Flagged)")
        a.ok("UID STORE 12 +FLAGS.SILENT (\\Deleted)")
        a.ok("UID EXPUNGE 12")
    done = subprocess.run(
        ["node", str(HERE / "resync.mjs"), str(server.port("imaps")), USER, PASSWORD,
         str(uidvalidity), str(modseq)],
        cwd=HERE, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "QRESYNC" in result["enabled"]
    assert "CONDSTORE" in result["enabled"]
    assert result["qresync"] is True
    assert result["exists"] == 19
    assert int(result["highestModseq"]) > modseq
    assert [c["uid"] for c in result["changed"]] == [4, 9]
    assert all(c["flags"] == ["\\Flagged"] for c in result["changed"])
    assert {v["uid"] for v in result["vanished"]} == {12}
    assert result["compressed"] is True  # the whole resync ran over RFC 4978 DEFLATE
