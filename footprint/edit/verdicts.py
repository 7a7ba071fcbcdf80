"""The stranding verdicts of a session's plans: judged in a background thread, newest plan first.

:class:`Verdicts` asks the seam (:class:`~footprint.edit.seam.Seam`) for the verdict on each
plan the session asks about, in one worker thread, and keeps the newest
:data:`VERDICT_CACHE` verdicts, so that undo and redo to a plan already judged answer at
once. A plan already left is not judged, and the judging of a plan left while it runs is
abandoned at once when the seam can cancel. A seam whose ``verdict`` takes ``changes``
answers in two parts: who is stranded or at risk and why, then the smallest change that
frees the stranded practices.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from footprint.edit.errors import one_line
from footprint.edit.seam import Seam, Verdict
from footprint.errors import FootprintError
from footprint.plan import Plan

logger = logging.getLogger(__name__)

#: Verdicts kept for undo and redo.
VERDICT_CACHE = 64


class Verdicts:
    """The stranding verdicts of one session's plans, worked out by a worker thread and cached.

    Parameters
    ----------
    seam
        The solver's answers. Its ``verdict`` may take ``changes`` (then the verdict comes in
        two parts) and ``cancel`` (with a ``cancel_token()`` method: then a verdict on a plan
        left is abandoned).
    """

    def __init__(self, seam: Seam) -> None:
        self.seam = seam
        self._cache: OrderedDict[tuple, Verdict] = OrderedDict()
        self._cv = threading.Condition()
        self._wanted: tuple[tuple, Plan, frozenset[str]] | None = None
        self._computing: tuple | None = None
        #: The token that abandons the verdict being computed (set when a newer plan supersedes it).
        self._token: Any = None
        accepted = inspect.signature(seam.verdict).parameters
        #: Whether the seam answers in two parts (who is stranded, then the smallest change) and can cancel.
        self._two_part = "changes" in accepted
        self._cancellable = "cancel" in accepted and callable(getattr(seam, "cancel_token", None))
        self._worker: threading.Thread | None = None
        self._closed = False

    def verdict(self, plan: Plan, locked: frozenset[str], *, wait_s: float | None) -> Verdict:
        """Return the stranding verdict on ``plan`` with the ``locked`` groups agreed (cached).

        ``wait_s`` is how long to wait for the whole verdict (``None``: until known); if it
        is not known by then, the verdict returned is ``pending``: its first part if known,
        else nothing yet.
        """
        key = (frozenset(plan.assignment.items()), locked)
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with self._cv:
            while (found := self._cache.get(key)) is None or found.pending:
                if self._closed:
                    return found or Verdict(False, "the editor has stopped")
                if self._computing != key and (self._wanted is None or self._wanted[0] != key):
                    self._want(key, plan, locked)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    if found is not None:
                        self._cache.move_to_end(key)
                        return found
                    return Verdict(False, "checking whether any open practice is stranded ...", pending=True)
                self._cv.wait(timeout=1.0 if left is None else min(left, 1.0))
            self._cache.move_to_end(key)
            return found

    def close(self, *, wait_s: float = 5.0) -> bool:
        """Abandon the verdict under way, stop the worker and wait up to ``wait_s`` for it.

        Returns whether the worker has stopped (a solve that cannot be cancelled may run on).
        Later verdicts are answered as unavailable.
        """
        with self._cv:
            self._closed, self._wanted = True, None
            if self._token is not None:
                self._token.set()
            self._cv.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(wait_s)
        return worker is None or not worker.is_alive()

    def _want(self, key: tuple, plan: Plan, locked: frozenset[str]) -> None:
        """Ask the worker to judge ``plan`` next (the caller holds the condition).

        A verdict under way for another plan is abandoned (its token set).
        """
        self._wanted = (key, plan, locked)
        if self._computing is not None and self._computing != key and self._token is not None:
            self._token.set()
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._judge_forever, name="stranding", daemon=True)
            self._worker.start()
        self._cv.notify_all()

    def _judge_forever(self) -> None:
        while True:
            with self._cv:
                while self._wanted is None and not self._closed:
                    self._cv.wait()
                if self._closed or self._wanted is None:
                    return
                key, plan, locked = self._wanted
                self._wanted, self._computing = None, key
                self._token = self.seam.cancel_token() if self._cancellable else None  # type: ignore[attr-defined]
                token, known = self._token, self._cache.get(key)
            try:
                if known is None and self._two_part:
                    # The first part (who is stranded, and why) first; the smallest change after,
                    # unless a newer plan is waiting.
                    known = self._keep(key, self._judge(plan, locked, token, changes=False))
                    with self._cv:
                        if known is None or not known.pending or self._wanted is not None:
                            continue
                self._keep(key, self._judge(plan, locked, token, changes=True))
            finally:
                with self._cv:
                    self._computing = self._token = None
                    self._cv.notify_all()

    def _keep(self, key: tuple, found: Verdict | None) -> Verdict | None:
        """Cache the verdict ``found`` on the plan ``key`` (``None``: abandoned, nothing kept)."""
        with self._cv:
            if found is not None:
                self._cache[key] = found
                self._cache.move_to_end(key)
                while len(self._cache) > VERDICT_CACHE:
                    self._cache.popitem(last=False)
            self._cv.notify_all()
        return found

    def _judge(self, plan: Plan, locked: frozenset[str], token: Any, *, changes: bool) -> Verdict | None:
        """Return the seam's verdict, or ``None`` when ``token`` abandoned it."""
        started = time.perf_counter()
        options: dict[str, Any] = {}
        if self._two_part:
            options["changes"] = changes
        if token is not None:
            options["cancel"] = token
        try:
            found = self.seam.verdict(plan, locked, **options)
        except FootprintError as exc:
            if token is not None and token.is_set():
                logger.info(
                    "stranding verdict abandoned after %.2f s: a newer plan came",
                    time.perf_counter() - started,
                )
                return None
            found = Verdict(False, f"stranding check failed: {one_line(str(exc))}")
        except Exception as exc:  # the worker must outlive any one plan
            logger.exception("stranding check failed")
            found = Verdict(False, f"stranding check failed: {type(exc).__name__}: {one_line(str(exc))}")
        logger.info("stranding verdict in %.2f s: %s", time.perf_counter() - started, found.message)
        return found
