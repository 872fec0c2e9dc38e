"""The web admin's static files (one stylesheet), served from the package itself.

The files are read once, at start, from this package's ``static`` directory: a request can
only name one of those names (looked up in a dict, never joined to a path), so no request
can reach another file whatever it contains (``..``, ``%2e%2e``, an absolute path, a
backslash: web/messages.py refuses most of those before, this table refuses the rest).
Nothing on the admin pages comes from another origin.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from posthouse.web.messages import HttpRequest, HttpResponse

PREFIX = "/admin/static/"
_TYPES = {".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


class StaticFiles:
    """The package's static files by name, with their type and ETag."""

    def __init__(self, package: str = "posthouse.admin") -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        folder = resources.files(package).joinpath("static")
        for entry in folder.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in _TYPES:
                data = entry.read_bytes()
                etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
                self.files[entry.name] = (data, _TYPES[suffix], etag)

    async def serve(self, request: HttpRequest) -> HttpResponse:
        """GET /admin/static/<name>: the file, or 404."""
        found = self.files.get(request.path.removeprefix(PREFIX))
        if not request.path.startswith(PREFIX) or found is None:
            return HttpResponse.error(404)
        data, ctype, etag = found
        if request.header("if-none-match") == etag:
            return HttpResponse(304, b"", [("ETag", etag)])
        return HttpResponse(200, data, [("Content-Type", ctype), ("ETag", etag),
                                        ("Cache-Control", "no-cache")])
