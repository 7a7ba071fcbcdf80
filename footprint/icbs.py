"""Figures per ICB (integrated care board; before July 2022 the STP): a plan's groups totalled by area.

A planner of an ICB reads its sub-ICB locations (CCGs) together; :func:`icb_totals` sums a
plan's groups per ICB from the group table, so every summary can total by ICB as it does by
CCG and for England.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from footprint.config import Rules
from footprint.evaluate import group_table
from footprint.load import ICB_COLUMNS
from footprint.plan import Plan

__all__ = ["icb_column", "icb_totals"]


def icb_column(practices: pd.DataFrame) -> str | None:
    """Return the column naming each practice's ICB (``icb_code``, else ``stp_code``), if any."""
    return next((c for c in ICB_COLUMNS[:2] if c in practices.columns), None)


def icb_totals(
    plan: Plan, practices: pd.DataFrame, *, rules: Rules | None = None, approved: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """Return per ICB its CCGs, practices, patients, groups, out of band, open practices, in-band share.

    Only the plan's practices count (those of ``practices`` it does not hold, such as
    members of a PCN across the scope's line, do not). A group belongs to the ICB that
    holds most of its patients (a PCN across an ICB line is counted once). Practices with
    no group (``open``) count in ``practices`` and ``patients`` but in no group, and the
    in-band share is of the patients in groups, as England's (:class:`~footprint.evaluate.PlanScore`).
    Empty when the practices name no ICB.

    Examples
    --------
    >>> practices = pd.DataFrame(
    ...     {"list_size": [20_000, 15_000, 9_000, 5_000], "ccg_code": ["A", "A", "B", "A"],
    ...      "stp_code": ["Q1", "Q1", "Q2", "Q1"], "x": [0, 1000, 5000, 2000], "y": [0, 0, 0, 0]},
    ...     index=["P1", "P2", "P3", "P4"],
    ... )
    >>> totals = icb_totals(Plan({"P1": "g", "P2": "g", "P3": None, "P4": None}), practices)
    >>> totals["Q1"]["groups"], totals["Q1"]["open"], totals["Q1"]["patients"], totals["Q1"]["in_band_share"]
    (1, 1, 40000, 1.0)
    >>> totals["Q2"]["patients"], totals["Q2"]["in_band_share"]
    (9000, 0.0)
    """
    column = icb_column(practices)
    if column is None:
        return {}
    practices = practices.loc[practices.index.isin(list(plan.assignment))]  # the plan's, as written
    icb = practices[column].astype(str)
    table = group_table(plan.restrict(practices.index), practices, rules=rules, approved=approved)
    sizes = practices["list_size"]
    # each group's ICB: the one holding most of its patients (ties: the first code)
    rows = [(pcn, code) for pcn, members in table["members"].items() for code in members]
    membership = pd.DataFrame(rows, columns=["pcn", "code"])
    membership["icb"] = icb.reindex(membership["code"]).to_numpy()
    membership["size"] = sizes.reindex(membership["code"]).to_numpy()
    by = membership.groupby(["pcn", "icb"], sort=True)["size"].sum().reset_index()
    by = by.sort_values(["pcn", "size", "icb"], ascending=[True, False, True], kind="stable")
    home = {pcn: str(first) for pcn, first in by.groupby("pcn", sort=False)["icb"].first().items()}
    out: dict[str, dict[str, Any]] = {}
    for code, frame in practices.groupby(icb, sort=True):
        mine = table.loc[[p for p, h in home.items() if h == code]]
        patients = int(frame["list_size"].sum())
        open_ = frame.index[[plan.assignment.get(c) is None for c in frame.index]]
        grouped = patients - int(frame.loc[open_, "list_size"].sum())
        in_band = int(mine.loc[mine["in_band"], "list_size"].sum())
        out[str(code)] = {
            "ccgs": sorted(set(frame["ccg_code"].astype(str))),
            "practices": len(frame),
            "patients": patients,
            "groups": len(mine),
            "out_of_band": int((~mine["in_band"]).sum()),
            "exempt": sum(isinstance(e, str) for e in mine["exempt"]),
            "open": len(open_),
            "in_band_share": round(in_band / grouped, 5) if grouped else 0.0,
        }
    return out
