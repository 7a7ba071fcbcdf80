"""The web app's guard: the token, ``Host`` and ``Origin`` checks, and headers that keep the page to itself.

:func:`origins_for` lists the ``Host`` and ``Origin`` values a server bound to an address
accepts; :class:`Guard` is the ASGI middleware that refuses every other request (no token,
a foreign origin or host, a cross-site fetch, a body too large) and adds
:data:`SAFE_HEADERS` to every answer. :data:`CSP` is the page's Content-Security-Policy.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

#: Headers added to every answer: no caching, no referrer, no sniffing, no framing.
SAFE_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]
#: The page loads nothing from anywhere: Leaflet and its data are inlined.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def origins_for(host: str, port: int) -> tuple[frozenset[str], frozenset[str]]:
    """Return the ``Host`` headers and ``Origin`` values a server bound to ``host:port`` accepts.

    A loopback address accepts its loopback names (``127.0.0.1``, ``localhost``,
    ``[::1]``); a wildcard address (``0.0.0.0``, ``::``) those and this computer's host
    names; any other address only its own text.

    Examples
    --------
    >>> hosts, origins = origins_for("127.0.0.1", 8765)
    >>> sorted(hosts)
    ['127.0.0.1:8765', '[::1]:8765', 'localhost:8765']
    >>> "http://localhost:8765" in origins
    True
    """
    loopback = {"127.0.0.1", "localhost", "[::1]"}
    if host in {*loopback, "::1"}:
        names = loopback
    elif host in ("0.0.0.0", "::"):  # every interface: its loopback names and this computer's names
        import socket

        names = loopback | {socket.gethostname(), socket.getfqdn()}
    else:
        names = {f"[{host}]" if ":" in host else host}
    hosts = frozenset(f"{name}:{port}".lower() for name in names)
    return hosts, frozenset(f"http://{h}" for h in hosts)


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class Guard:
    """ASGI middleware: refuse any request without the token, from a foreign origin or host.

    Also refuses bodies declared larger than ``max_body`` and adds headers that keep the
    page and its token to itself (no caching, no referrer, no framing).
    """

    def __init__(
        self, app: ASGIApp, *, token: str, hosts: frozenset[str], origins: frozenset[str], max_body: int
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.origins = origins
        self.max_body = max_body

    def refusal(self, scope: Mapping[str, Any]) -> tuple[int, str] | None:
        """Return the status and reason to refuse the request with, or ``None`` to let it through."""
        host = (_header(scope, b"host") or "").lower()
        if host not in self.hosts:
            return 403, f"refused: Host {host or '(none)'} is not this server's address"
        origin = _header(scope, b"origin")
        if origin is not None and origin.lower() not in self.origins:
            return 403, f"refused: requests from {origin} may not use this editor"
        site = _header(scope, b"sec-fetch-site")
        if scope.get("path") != "/" and site not in (None, "same-origin", "none"):
            return 403, f"refused: a {site} request may not use this editor"
        if not self._has_token(scope):
            return 403, "refused: the editor's token is missing or wrong (open the URL the editor printed)"
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, f"request body larger than {self.max_body:,} bytes"
        return None

    def _has_token(self, scope: Mapping[str, Any]) -> bool:
        from urllib.parse import parse_qs

        given = _header(scope, b"x-footprint-token")
        auth = _header(scope, b"authorization")
        if given is None and auth is not None and auth.lower().startswith(("token ", "bearer ")):
            given = auth.split(" ", 1)[1].strip()
        if given is None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refused request with its reason, or pass it on with :data:`SAFE_HEADERS` added."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets
            await send({"type": "websocket.close", "code": 1008})
            return
        refused = self.refusal(scope)
        if refused is not None:
            status, reason = refused
            logger.warning("%s %s: %s", scope.get("method"), scope.get("path"), reason)
            body = json.dumps({"error": reason}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *SAFE_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_safe(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SAFE_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_safe)
