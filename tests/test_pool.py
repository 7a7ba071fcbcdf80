from __future__ import annotations

import os

import psutil

from footprint._pool import imap_unordered


def _workers_beside_me(_item: int) -> int:
    return len(psutil.Process(os.getppid()).children())


def test_no_more_workers_than_items():
    # --processes 64 on 3 CCGs started 46 processes; a pool starts one worker per item at most.
    assert max(imap_unordered(_workers_beside_me, [1, 2], processes=8)) <= 2


def test_no_items_start_no_worker():
    assert list(imap_unordered(_workers_beside_me, [], processes=8)) == []
