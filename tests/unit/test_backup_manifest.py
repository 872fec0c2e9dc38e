"""The backup manifest: what is written reads back the same; anything else is refused with
the file's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posthouse.maint.manifest import (
    BackupError,
    FileEntry,
    Manifest,
    find_snapshot,
    load_manifest,
)

SAMPLE = Manifest(
    posthouse_version="0.1.0", schema_version=6, created="2026-12-03T06:00:00Z",
    store_id="ab" * 16, messages=3, users=1,
    files=(FileEntry("posthouse.sqlite3", "0" * 64, 4096),
           FileEntry("files/tls/cert.pem", "1" * 64, 10)),
    blobs={"f" * 64: 300_000})


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(SAMPLE.to_json())
    assert load_manifest(path) == SAMPLE


@pytest.mark.parametrize("change", [
    lambda d: d.pop("blobs"),
    lambda d: d.update(format="other/9"),
    lambda d: d.update(files={"../../etc/passwd": {"sha256": "0" * 64, "size": 1}}),
    lambda d: d.update(files={"/etc/passwd": {"sha256": "0" * 64, "size": 1}}),
    lambda d: d.update(files=[]),
    lambda d: d.update(schema_version="six"),
])
def test_a_wrong_manifest_is_refused_naming_the_file(tmp_path: Path, change: object) -> None:
    doc = json.loads(SAMPLE.to_json())
    change(doc)  # type: ignore[operator]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BackupError, match=str(path)):
        load_manifest(path)


def test_truncated_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(SAMPLE.to_json()[:40])
    with pytest.raises(BackupError, match="damaged, not readable JSON"):
        load_manifest(path)
    with pytest.raises(BackupError, match="missing"):
        load_manifest(tmp_path / "nothing.json")


def test_find_snapshot_takes_the_newest(tmp_path: Path) -> None:
    for name in ("20261201T000000Z", "20261203T000000Z", ".tmp-20261204T000000Z"):
        (tmp_path / "snapshots" / name).mkdir(parents=True)
    assert find_snapshot(tmp_path) == (tmp_path / "snapshots" / "20261203T000000Z", tmp_path)
    snap = tmp_path / "snapshots" / "20261201T000000Z"
    (snap / "manifest.json").write_text("{}")
    assert find_snapshot(snap) == (snap, tmp_path)
    with pytest.raises(BackupError, match="no backup snapshot found"):
        find_snapshot(tmp_path / "snapshots" / "20261203T000000Z")
