"""Worker processes: a pool that stops at once when the run is interrupted, and a forked task."""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Generic, NoReturn, TypeVar

from threadpoolctl import threadpool_limits

__all__ = ["Forked", "forked", "imap_unordered", "in_process"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Seconds a worker is given to exit after SIGTERM before it is killed.
_GRACE_S = 0.5


def _start_worker() -> None:
    """Set up a worker: one thread of numpy's linear algebra, and interrupts left to the parent.

    The workers already take the cores: a worker's OpenBLAS threads (one per core, spinning
    while they wait for work) would take them from the other workers. Measured on 2 cores:
    one CCG's compactness stage took 50% longer beside another worker, and as long as alone
    with one thread; England's plan took 1-2.5 s less CPU.

    The parent alone handles Ctrl-C (sent to the whole process group) and stops the workers.
    SIGTERM, which the parent sends to stop a worker, ends the worker at once and quietly: a
    forked worker would otherwise inherit the parent's handler and print its exception.
    """
    threadpool_limits(limits=1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def in_process(func: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """Yield ``func(item)`` for every item, in order, in this process (``processes=1``).

    As in a worker of :func:`imap_unordered`, numpy's linear algebra uses one thread while
    ``func`` runs: its other threads would spin on the other cores for no gain (a staged
    plan of 91Q, 52R and 92G took 0.1-0.8 s less CPU).

    Examples
    --------
    >>> list(in_process(abs, [-2, 1, -3]))
    [2, 1, 3]
    """
    for item in items:
        with threadpool_limits(limits=1):
            result = func(item)
        yield result


def _end(processes: list[Any]) -> None:
    """Terminate each process still running, all at once, then kill any that linger past the grace."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join(_GRACE_S)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate every worker of ``pool`` now (then kill any that linger) and drop queued work."""
    processes = list(getattr(pool, "_processes", {}).values())
    _end(processes)
    # With its workers gone the pool's manager thread ends at once; wait for it, so that
    # nothing of the pool is left for the interpreter's exit handlers to trip over.
    pool.shutdown(wait=True, cancel_futures=True)
    logger.info("stopped %d worker process(es)", len(processes))


def imap_unordered(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    processes: int,
    context: multiprocessing.context.BaseContext | None = None,
) -> Iterator[R]:
    """Yield ``func(item)`` for every item as each finishes, in ``processes`` worker processes.

    At most one worker per item is started.

    Each worker uses one thread for numpy's linear algebra. Workers ignore SIGINT; when
    the caller is interrupted (Ctrl-C, or SIGTERM turned into an exception) or stops
    iterating, every worker is terminated at once rather than left to finish its item, so
    an interrupted run ends within a second and leaves no process behind. ``context``
    chooses how workers start (e.g. ``"fork"``, to share a parent's data without pickling it).

    Examples
    --------
    >>> sorted(imap_unordered(abs, [-2, 1, -3], processes=2))
    [1, 2, 3]
    """
    items = list(items)
    if not items:
        return
    # No more workers than items: each would start (and load the libraries) for nothing.
    workers = max(1, min(processes, len(items)))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker)
    try:
        pending: set[Future[R]] = {pool.submit(func, item) for item in items}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _run_forked(
    func: Callable[[Callable[[], Any]], R], connection: multiprocessing.connection.Connection
) -> None:
    """Run ``func(receive)`` in a forked child; send back ``(True, result)`` or ``(False, exception)``.

    What it prints to ``sys.stdout`` and ``sys.stderr`` is sent too, for the parent to print
    (where the parent's streams are not files, e.g. captured, the child's own would be lost).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C, and stops the child
    signal.signal(signal.SIGTERM, _stopped)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            outcome: tuple[bool, object] = (True, func(connection.recv))
        except BaseException as error:  # raised again in the parent, whatever it is
            outcome = (False, error)
    with contextlib.suppress(OSError):  # the parent no longer waits
        connection.send((*outcome, out.getvalue(), err.getvalue()))


def _stopped(_signum: int, _frame: object) -> NoReturn:
    """End a forked child its parent stops (SIGTERM) as an exception: its atomic writes are undone."""
    raise SystemExit(1)


class Forked(Generic[R]):
    """A task running in a forked process (see :func:`forked`)."""

    def __init__(self, connection: multiprocessing.connection.Connection, process: Any) -> None:
        self._connection, self._process = connection, process

    def send(self, value: object) -> None:
        """Hand ``value`` to the task: what its ``receive()`` returns.

        Where the task already ended (it failed before asking), :meth:`result` says so.
        """
        with contextlib.suppress(OSError):
            self._connection.send(value)

    def result(self) -> R:
        """Wait for the task; print what it printed, then return its result or raise its exception."""
        try:
            ok, value, out, err = self._connection.recv()
        except EOFError:
            self._process.join()
            msg = f"a forked process ended without a result (exit code {self._process.exitcode})"
            raise RuntimeError(msg) from None
        self._process.join()
        sys.stdout.write(out)
        sys.stderr.write(err)
        if not ok:
            raise value
        return value


class _InProcess(Forked[R]):
    """:class:`Forked` where processes cannot be forked: the task runs when its result is asked for."""

    def __init__(self, func: Callable[[Callable[[], Any]], R]) -> None:
        self._func = func
        self._sent: deque[object] = deque()

    def send(self, value: object) -> None:
        self._sent.append(value)

    def result(self) -> R:
        return self._func(self._sent.popleft)


@contextmanager
def forked(func: Callable[[Callable[[], Any]], R]) -> Iterator[Forked[R]]:
    """Run ``func(receive)`` in a forked process while the caller goes on; yield it as a :class:`Forked`.

    The child starts from the parent's memory as it is (nothing is pickled but what is sent
    and the result), so a long task on large tables runs on another core beside the
    caller's own work; it can read its inputs first, then call ``receive()`` for what the
    caller hands it later (:meth:`Forked.send`), such as a plan once solved.
    :meth:`Forked.result` waits for it. Leaving the block stops a child not waited for.
    Where processes cannot be forked (not POSIX), ``func`` runs in this process when its
    result is asked for.

    Examples
    --------
    >>> with forked(lambda receive: sum(receive())) as task:
    ...     task.send(range(10))
    ...     mine = 2 * 3
    ...     theirs = task.result()
    >>> mine, theirs
    (6, 45)
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        yield _InProcess(func)
        return
    context = multiprocessing.get_context("fork")
    mine, theirs = context.Pipe()
    process = context.Process(target=_run_forked, args=(func, theirs), daemon=True)
    process.start()  # std streams are flushed first: the child repeats nothing of the parent's
    theirs.close()
    try:
        yield Forked(mine, process)
    finally:
        mine.close()
        # Killed where SIGTERM's exception cannot be raised, or was caught.
        _end([process])
