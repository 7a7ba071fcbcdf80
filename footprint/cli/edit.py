"""``footprint edit``: a what-if editor in the browser, served on this computer only by default."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import threading
import webbrowser
from pathlib import Path
from urllib.parse import urlsplit

from footprint.cli._common import (
    add_approved_option,
    add_band_options,
    add_plan_argument,
    check_rural,
    load_inputs,
    out_dir,
    read_plan_option,
    read_whole_plan,
    rules_from_args,
    whole_number,
)
from footprint.edit import EditSession, apply_lock, edit_app, origins_for, serve_forever
from footprint.errors import DataError
from footprint.load import read_approved

#: Environment variable that fixes the token (e.g. for a proxy that adds it); default a random one.
TOKEN_VARIABLE = "FOOTPRINT_EDIT_TOKEN"
#: Seconds a request waits for the stranding verdict before answering with it pending.
VERDICT_WAIT_S = 0.8


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``edit`` command."""
    parser = commands.add_parser(
        "edit",
        parents=parents,
        help="what-if editor: move practices on the map in a browser and see at once whether the plan holds",
    )
    add_plan_argument(parser, verb="start from")
    rule = add_band_options(parser)
    rule.add_argument("--lock", type=Path, metavar="PLAN.csv", help="agreed groups, locked at the start")
    add_approved_option(rule)
    web = parser.add_argument_group("server")
    web.add_argument(
        "--port",
        type=whole_number(0, 65_535),
        default=8765,
        help="port to listen on, 0 to 65,535 (%(default)s; 0: any free port)",
    )
    web.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (%(default)s: this computer only; see README before changing it)",
    )
    web.add_argument(
        "--allow-origin",
        action="append",
        metavar="URL",
        help="also accept requests from this origin, e.g. https://footprint.trust.nhs.uk behind a proxy",
    )
    web.add_argument("--no-browser", action="store_true", help="print the URL but do not open a browser")
    parser.set_defaults(func=run)


def _token() -> str:
    token = os.environ.get(TOKEN_VARIABLE) or secrets.token_urlsafe(32)
    if len(token) < 16 or not token.isprintable() or " " in token:
        msg = f"{TOKEN_VARIABLE} must be at least 16 printable characters without spaces"
        raise DataError(msg)
    return token


def _origins(urls: list[str] | None) -> tuple[set[str], set[str]]:
    """Return the hosts and origins ``--allow-origin`` adds, refusing anything but scheme://host[:port]."""
    hosts, origins = set(), set()
    for url in urls or ():
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            msg = f"--allow-origin {url!r} is not an origin: give scheme://host[:port], e.g. https://edit.example.nhs.uk"
            raise DataError(msg)
        hosts.add(parts.netloc.lower())
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return hosts, origins


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        msg = f"cannot listen on {host}:{port} ({reason}): give another --port or --host"
        raise DataError(msg) from None
    sock.listen(64)
    return sock


def run(args: argparse.Namespace) -> int:
    """Start the editor on one CCG and serve it until interrupted."""
    if not args.ccg or len(args.ccg) != 1:
        raise DataError("footprint edit edits one CCG at a time: give --ccg CODE")
    rules = rules_from_args(args)
    token = _token()
    extra_hosts, extra_origins = _origins(args.allow_origin)
    inputs = load_inputs(args)
    check_rural(rules, inputs.everyone)
    # A PCN across the CCG line comes whole: its members outside count, and stay put.
    plan, inputs = read_whole_plan(args.plan, inputs, what="plan")
    locked: frozenset[str] = frozenset()
    if args.lock:
        plan, locked = apply_lock(plan, read_plan_option(args.lock, inputs, what="--lock"))
    approved = read_approved(args.approved) if args.approved else {}
    out = out_dir(args)
    session = EditSession(
        plan,
        inputs.graph,
        inputs.practices,
        rules=rules,
        locked=locked,
        approved=approved,
        out=out,
        ccg=inputs.scope[0],
    )
    session.verdict_wait_s = VERDICT_WAIT_S  # answer at once; the page asks again for a verdict still solving
    sock = _listen(args.host, args.port)
    port = sock.getsockname()[1]
    hosts, origins = origins_for(args.host, port)
    app = edit_app(
        session,
        token=token,
        hosts=hosts | extra_hosts,
        origins=origins | extra_origins,
        practices=inputs.practices,
    )
    shown = sorted(hosts)[0] if args.host not in ("0.0.0.0", "::") else f"127.0.0.1:{port}"
    url = f"http://{shown}/?token={token}"
    preparing = threading.Thread(target=session.prepare, name="least-out-of-band", daemon=True)
    preparing.start()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"footprint edit: listening on {args.host}: anyone who can reach it and has the URL can edit "
            "(see README, 'footprint edit', for a proxy with sign-in)",
            file=sys.stderr,
        )
    print(f"footprint edit: CCG {session.ccg}, {len(session.start):,} practices; saves to {out}/plan.csv")
    print(f"open {url}  (Ctrl+C to stop)", flush=True)

    def ready() -> None:
        if not args.no_browser:
            webbrowser.open(url)

    try:
        serve_forever(app, sock, on_ready=ready)
    except KeyboardInterrupt:
        pass  # Ctrl+C is how the editor stops (uvicorn raises it again once the server is down)
    finally:
        stopped = session.close()
    unsaved = session.unsaved()
    if unsaved is None:
        print("footprint edit: stopped; nothing left unsaved")
    else:
        print(
            f"footprint edit: stopped with changes not saved ({unsaved} practice(s) moved from the start "
            f"since the last save); {out}/plan.csv is as last saved"
        )
    if not stopped or preparing.is_alive():
        # A solve still runs in C++ (CP-SAT cannot be told to stop from here): leave without
        # tearing down the interpreter under it, which aborts ("std::bad_function_call").
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
