"""The anatomy rules of docs/ARCHITECTURE.md that a test can hold.

Import layers are held by import-linter (pyproject.toml, run by scripts/test.sh); these are
the rest: one meaning per class name, and the same file names for the same roles in the
three protocol packages.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import posthouse

PACKAGE = Path(posthouse.__file__).parent


def test_no_two_classes_share_a_name() -> None:
    """A class name means one thing across the whole package (docs/ARCHITECTURE.md)."""
    where: dict[str, list[str]] = collections.defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(PACKAGE)))
    shared = {name: files for name, files in where.items() if len(files) > 1}
    assert shared == {}


def test_protocol_packages_share_one_anatomy() -> None:
    """Each protocol keeps its sans-IO core, events, state table, replies table and config
    in files of the same names (the role x protocol table in docs/ARCHITECTURE.md)."""
    roles = ("connection.py", "events.py", "states.py", "replies.py", "config.py")
    for protocol in ("smtp", "pop3", "imap"):
        missing = [role for role in roles if not (PACKAGE / protocol / role).is_file()]
        assert missing == [], protocol
