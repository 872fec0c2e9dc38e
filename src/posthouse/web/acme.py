"""The ACME http-01 answer (RFC 8555 8.3): GET /.well-known/acme-challenge/<token> on
plain HTTP, any host, answers the key authorization while that challenge is pending.

Reads the ChallengeBoard the ACME manager fills (acme/challenges.py); anything else is
404 and tells nothing. tls-alpn-01 needs no page: net/tls.py's SNI hook answers it.
"""

from __future__ import annotations

from posthouse.acme.challenges import HTTP01_PREFIX, ChallengeBoard
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HttpRoutes


def register(routes: HttpRoutes, board: ChallengeBoard) -> None:
    """Add the challenge path to the plain-HTTP listener (the CA validates on port 80;
    RFC 8555 8.3 also lets it follow redirects, which this server does not send)."""

    async def challenge(request: HttpRequest) -> HttpResponse:
        answer = board.http_response(request.path)
        if answer is None:
            return HttpResponse.error(404)
        # 8.3: the body is the key authorization; "application/octet-stream" is the type
        # RFC 8555 8.3's example uses.
        return HttpResponse(
            200, answer.encode("ascii"), [("Content-Type", "application/octet-stream")]
        )

    routes.add("GET", HTTP01_PREFIX, challenge, schemes=("http",), prefix=True)
