from __future__ import annotations

import multiprocessing
import os

import numpy as np
import psutil
from threadpoolctl import threadpool_info, threadpool_limits

from footprint._pool import imap_unordered, in_process


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
