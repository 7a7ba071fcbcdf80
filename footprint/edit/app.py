"""The editor's web app: the page and the JSON API over a session, behind the guard, served by uvicorn.

:func:`edit_app` wraps an :class:`~footprint.edit.session.EditSession` in a small
Starlette app: the page at ``/`` (drawn by :mod:`footprint.render.edit_page`), ``GET
/state`` and one ``POST`` route per change, each answering the whole state as JSON, and a
refused request a one-line ``{"error": ...}``. The app sits behind
:class:`~footprint.edit.guard.Guard`. :func:`serve_forever` serves it on a bound socket.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from footprint.edit.errors import EditError, one_line
from footprint.edit.guard import CSP, Guard
from footprint.errors import FootprintError

if TYPE_CHECKING:
    import geopandas as gpd
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp

    from footprint.edit.session import EditSession

logger = logging.getLogger(__name__)

#: Largest request body the web app reads, in bytes (a move is about 50).
MAX_BODY_BYTES = 16_384


async def _read_json(request: Request, max_body: int) -> dict[str, Any]:
    """Return the request's JSON object (``{}`` when the body is empty), read at most ``max_body`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise EditError(f"request body larger than {max_body:,} bytes", 413)
        chunks.append(chunk)
    raw = b"".join(chunks).strip()
    if not raw:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise EditError(f"send the body as application/json (got {kind or 'no content type'})", 415)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EditError(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EditError('the body must be a JSON object, e.g. {"practice": "E82001", "to": "new"}')
    return body


def _refuse(status: int, reason: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": one_line(reason)}, status_code=status)


async def _answer(
    request: Request, action: Callable[[dict[str, Any]], dict[str, Any]], *, max_body: int
) -> Response:
    """Run ``action`` on the request's body in a worker thread; answer its state, or a one-line refusal."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    try:
        body = await _read_json(request, max_body)
        state = await run_in_threadpool(action, body)
    except EditError as exc:
        return _refuse(exc.status, str(exc))
    except FootprintError as exc:
        return _refuse(409, str(exc))
    except Exception as exc:  # the server must outlive any one request
        logger.exception("request %s failed", request.url.path)
        return _refuse(500, f"internal error: {type(exc).__name__}: {exc}")
    return JSONResponse(state)


def _fields(body: Mapping[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if n not in body]
    if missing:
        raise EditError(f"missing field(s) {', '.join(missing)}: give {', '.join(names)}")
    return [body[n] for n in names]


def _actions(session: EditSession) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """Return the API's POST actions: name to a function of the request body returning the state."""
    return {
        "move": lambda b: session.move(*_fields(b, "practice", "to")),
        "lock": lambda b: session.lock(*_fields(b, "group", "locked")),
        "undo": lambda _b: session.undo(),
        "redo": lambda _b: session.redo(),
        "complete": lambda _b: session.complete(),
        "repair": lambda _b: session.repair(),
        "save": lambda _b: session.save(),
    }


def edit_app(
    session: EditSession,
    *,
    token: str,
    hosts: Iterable[str],
    origins: Iterable[str] = (),
    practices: gpd.GeoDataFrame | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> ASGIApp:
    """Return the editor's web app: the page at ``/`` and the JSON API, behind the token guard.

    Parameters
    ----------
    session
        The session the app edits.
    token
        The secret every request must carry: ``?token=`` in the URL, an
        ``X-Footprint-Token`` header or ``Authorization: token ...``.
    hosts
        ``Host`` header values accepted (``host:port``, see :func:`~footprint.edit.guard.origins_for`).
    origins
        ``Origin`` values accepted (browsers send one with every POST).
    practices
        The practices with point geometry, for the page's map (default the session's).
    max_body
        Largest request body read, in bytes.

    Returns
    -------
    ASGI application
        A Starlette app behind the guard, with routes ``GET /`` (the page), ``GET /state``
        and ``POST /move``, ``/lock``, ``/undo``, ``/redo``, ``/complete``, ``/repair``,
        ``/save``; each answers the state as JSON, and a refused request a 4xx with
        ``{"error": "<one line>"}``.

    Raises
    ------
    EditError
        If the token is shorter than 16 characters.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from footprint.render.edit_page import edit_page_html

    if len(token) < 16:
        msg = "the editor's token must be at least 16 characters"
        raise EditError(msg)
    page_data = session.page_data(practices)
    actions = _actions(session)

    def endpoint(action: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            return await _answer(request, action, max_body=max_body)

        return handle

    async def page(_request: Request) -> Response:
        html = await run_in_threadpool(edit_page_html, page_data, token)
        return HTMLResponse(html, headers={"content-security-policy": CSP})

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _refuse(exc.status_code, str(exc.detail))

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/state", endpoint(lambda _b: session.state()), methods=["GET"]),
        *(Route(f"/{name}", endpoint(action), methods=["POST"]) for name, action in actions.items()),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(
        app,
        token=token,
        hosts=frozenset(h.lower() for h in hosts),
        origins=frozenset(o.lower().rstrip("/") for o in origins),
        max_body=max_body,
    )


def serve_forever(
    app: Any, sock: Any, *, on_ready: Callable[[], None] | None = None, log_level: str = "warning"
) -> None:
    """Serve ``app`` with uvicorn on an already bound socket until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, lifespan="off", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    if on_ready is not None:
        threading.Thread(target=_when_started, args=(server, on_ready), daemon=True).start()
    server.run(sockets=[sock])


def _when_started(server: Any, then: Callable[[], None], *, wait_s: float = 30.0) -> None:
    deadline = time.monotonic() + wait_s
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if server.started:
        then()
