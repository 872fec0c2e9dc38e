"""Files served from one directory under a path prefix (the web admin's CSS, scripts, images).

Safe by construction, twice: the listener has already refused any path with a dot segment,
an encoded slash or a backslash (web/messages.py split_target); here the file is looked up
name by name below the directory, hidden names (".x") are not served, and the resolved path
must still be inside the directory, so a symbolic link cannot lead out of it. Only regular
files, with a Content-Type from a fixed table (unknown extensions: 404, nothing is sniffed),
and an ETag from size and modification time answering If-None-Match with 304.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import BOTH, HttpRoutes

CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
MAX_FILE_BYTES = 4 * 1024 * 1024


def register_static(routes: HttpRoutes, prefix: str, directory: Path, *,
                    schemes: tuple[str, ...] = BOTH, max_age: int = 3600) -> None:
    """Serve the files of ``directory`` under ``prefix`` (which ends with "/")."""
    if not prefix.endswith("/"):
        raise ValueError("a static prefix ends with /")
    root = directory.resolve()

    async def page(request: HttpRequest) -> HttpResponse:
        found = await asyncio.to_thread(find_file, root, request.path[len(prefix):])
        if found is None:
            return HttpResponse.error(404)
        path, content_type = found
        stat = path.stat()
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        headers = [("Content-Type", content_type), ("ETag", etag),
                   ("Cache-Control", f"max-age={max_age}")]
        if request.header("if-none-match") == etag:
            return HttpResponse(304, b"", headers)
        return HttpResponse(200, await asyncio.to_thread(path.read_bytes), headers)

    routes.add("GET", prefix, page, prefix=True, schemes=schemes)


def find_file(root: Path, relative: str) -> tuple[Path, str] | None:
    """The regular file ``relative`` names below ``root`` and its Content-Type, or None."""
    parts = relative.split("/")
    if not relative or any(not p or p.startswith(".") or "\\" in p or "\x00" in p
                           for p in parts):
        return None
    content_type = CONTENT_TYPES.get(Path(parts[-1]).suffix.lower())
    if content_type is None:
        return None
    try:
        path = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        return None
    return path, content_type
