from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from footprint._io import atomic_write
from footprint._pool import forked, imap_unordered, in_process
from footprint.errors import DataError


def _workers_beside_me(_item: int) -> int:
    return len(psutil.Process(os.getppid()).children())


def test_no_more_workers_than_items():
    # --processes 64 on 3 CCGs started 46 processes; a pool starts one worker per item at most.
    assert max(imap_unordered(_workers_beside_me, [1, 2], processes=8)) <= 2


def test_no_items_start_no_worker():
    assert list(imap_unordered(_workers_beside_me, [], processes=8)) == []


def _blas_threads(_item: int) -> list[int]:
    np.ones((64, 64)) @ np.ones((64, 64))  # numpy's BLAS loaded and used
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_a_worker_uses_one_blas_thread_whatever_its_parent_uses():
    # Two workers' OpenBLAS threads, one per core each, spun against each other: a CCG's
    # compactness took 50% longer beside another worker. A forked worker inherits its
    # parent's setting (here 2), so it must set its own.
    fork = multiprocessing.get_context("fork")
    with threadpool_limits(limits=2, user_api="blas"):
        threads = list(imap_unordered(_blas_threads, [1, 2], processes=2, context=fork))
    assert len(threads) == 2
    assert all(each and set(each) == {1} for each in threads)  # numpy's OpenBLAS, and scipy's if loaded


def test_in_process_the_same_one_thread_while_each_item_runs_and_the_caller_keeps_its_own():
    # --processes 1: the solve runs in the main process, whose OpenBLAS threads spun on the
    # other cores for no gain.
    with threadpool_limits(limits=2, user_api="blas"):
        threads = list(in_process(_blas_threads, [1, 2]))
        after = _blas_threads(0)
    assert len(threads) == 2 and all(each and set(each) == {1} for each in threads)
    assert set(after) == {2}


def test_a_forked_task_runs_in_another_process_from_the_parents_memory():
    table = {"rows": list(range(1000))}  # not pickled: the child reads the parent's copy
    with forked(lambda _receive: (os.getpid(), sum(table["rows"]))) as task:
        pid, total = task.result()
    assert pid != os.getpid() and total == 499_500


def test_a_forked_task_reads_first_then_takes_what_it_is_sent(tmp_path: Path):
    # The network areas' inputs are read while the plan is solved; the plan is sent after.
    def task(receive) -> tuple[float, float, dict]:
        read = time.monotonic()
        (tmp_path / "read").touch()
        plan = receive()
        return read, time.monotonic(), plan

    with forked(task) as running:
        while not (tmp_path / "read").exists():  # the child reads before anything is sent
            time.sleep(0.01)
        time.sleep(0.2)
        sent = time.monotonic()
        running.send({"A": "p"})
        read, given, plan = running.result()
    assert read < sent <= given and plan == {"A": "p"}


def test_what_a_forked_task_prints_is_printed_where_it_is_waited_for(capsys):
    # Where the parent's streams are not files (captured here), the child's own prints were lost.
    def talk(_receive) -> int:
        print("written pcns.geojson")
        print("network areas: 12 LSOA code(s) unknown", file=sys.stderr)
        return 1

    with forked(talk) as task:
        print("written plan.csv")
        assert task.result() == 1
    out, err = capsys.readouterr()
    assert out == "written plan.csv\nwritten pcns.geojson\n"
    assert err == "network areas: 12 LSOA code(s) unknown\n"


def _refuse(_receive) -> None:
    print("reading row 3", file=sys.stderr)
    msg = "row 3: no list size; give it one"
    raise DataError(msg)


def test_a_forked_tasks_error_is_raised_where_it_is_waited_for(capsys):
    with forked(_refuse) as task, pytest.raises(DataError, match="row 3: no list size"):
        time.sleep(0.2)
        task.send("the plan")  # the task ended before asking: said by the result, not here
        task.result()
    assert capsys.readouterr().err == "reading row 3\n"


def test_leaving_the_block_stops_the_task_and_undoes_its_writes(tmp_path: Path):
    # The parent failed (or was interrupted) before waiting: the child is stopped, and the
    # file it was writing is neither written nor left half-written beside it.
    def write_slowly(_receive) -> None:
        with atomic_write(tmp_path / "pcns.geojson") as fh:
            fh.write("{")
            time.sleep(60)

    started = time.perf_counter()
    with pytest.raises(KeyError), forked(write_slowly):
        while not list(tmp_path.iterdir()):  # the child's temporary file
            time.sleep(0.01)
        raise KeyError("the parent's own error")
    assert time.perf_counter() - started < 30
    assert not list(tmp_path.iterdir())


def test_a_task_waiting_for_what_it_is_sent_is_stopped_when_the_block_is_left():
    # A solve that fails (or Ctrl-C) leaves the block before the plan is sent.
    with pytest.raises(KeyError), forked(lambda receive: receive()) as task:
        raise KeyError("infeasible")
    assert not task._process.is_alive() and task._process.exitcode is not None


@pytest.mark.parametrize("fork", [True, False])
def test_a_forked_task_takes_what_it_is_sent_in_order(fork, monkeypatch):
    # The network areas' process takes the plan, then the names; where processes cannot be
    # forked the task runs in this process, taking them in the same order.
    if not fork:
        monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with forked(lambda receive: (receive(), receive())) as task:
        task.send("the plan")
        task.send("the names")
        assert task.result() == ("the plan", "the names")
