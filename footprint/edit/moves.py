"""Locks and moves between plans: agreed groups laid over a plan, and the practices moved since the start.

:func:`apply_lock` lays the agreed groups of a lock file over the starting plan;
:func:`moves_between` lists the practices whose group changed, the rows of the moves
file the editor saves (columns :data:`MOVE_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from footprint.partition import MOVES_COLUMNS
from footprint.places import display_name
from footprint.plan import Plan, match_groups

#: Columns of the moves file, in order: those of ``footprint repair``'s moves file.
MOVE_COLUMNS = tuple(MOVES_COLUMNS)


def apply_lock(plan: Plan, lock: Plan) -> tuple[Plan, frozenset[str]]:
    """Return ``plan`` with the agreed groups of ``lock`` laid over it, and their ids.

    Each practice given a group in ``lock`` takes that group; a practice that ``plan``
    puts in a locked group's id but the lock leaves out is opened (the agreement left it
    out of that group).

    Examples
    --------
    >>> plan, locked = apply_lock(Plan({"A": "p", "B": "p", "C": "q"}), Plan({"A": "p", "C": None}))
    >>> plan.assignment, sorted(locked)
    ({'A': 'p', 'B': None, 'C': 'q'}, ['p'])
    """
    agreed = {c: p for c, p in lock.assignment.items() if p is not None}
    locked = frozenset(agreed.values())
    assignment = {
        code: agreed.get(code, None if pcn in locked else pcn) for code, pcn in plan.assignment.items()
    }
    assignment.update({c: p for c, p in agreed.items() if c not in assignment})
    return Plan(assignment, plan.info), locked


def moves_between(
    start: Plan, plan: Plan, practices: pd.DataFrame, *, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Return the practices whose group changes from ``start`` to ``plan``, one row each.

    Groups of ``plan`` are matched to those of ``start`` as in the transfer distance
    (:func:`footprint.plan.match_groups`), so a group that only changed its id does not
    count as moved. A practice opened or placed counts too (its ``from`` or ``to`` is
    blank).

    Returns
    -------
    pandas.DataFrame
        The columns of ``footprint repair``'s moves file (:data:`MOVE_COLUMNS`):
        ``practice_code``, ``name`` (as people write it), ``from`` and ``to`` (group ids in
        ``start`` and ``plan``), ``to_name`` (from ``names``, e.g.
        :func:`footprint.places.group_names`; else blank), ``patients`` (its list size) and
        ``reason``: the move made by hand, with both groups' totals before and after.

    Examples
    --------
    >>> practices = pd.DataFrame({"practice_name": ["A", "B"], "list_size": [10, 20]}, index=["A", "B"])
    >>> moves = moves_between(Plan({"A": "p", "B": "p"}), Plan({"A": "p", "B": None}), practices)
    >>> moves.values.tolist()
    [['B', 'B', 'p', '', '', 20, 'opened by hand: left p (30 -> 10 patients)']]
    >>> moves_between(Plan({"A": "p", "B": "q"}), Plan({"A": "p", "B": "p"}), practices).at[0, "reason"]
    'moved by hand: from q (20 -> 0 patients) to p (10 -> 30)'
    """
    names = names or {}
    continues = match_groups(start, plan)
    sizes = practices["list_size"].astype("int64")
    was, now = _totals(start, sizes), _totals(plan, sizes)
    rows = []
    for code in sorted(set(start.assignment) | set(plan.assignment)):
        before, after = start.assignment.get(code), plan.assignment.get(code)
        if before is None and after is None:
            continue
        if after is not None and before is not None and continues.get(after) == before:
            continue
        name = practices.at[code, "practice_name"] if "practice_name" in practices.columns else ""
        if after is None:
            left = _continued(now, continues, before or "")
            reason = f"opened by hand: left {before} ({was[before or '']:,} -> {left:,} patients)"
        elif before is None:
            reason = f"placed by hand in {after} ({now[after]:,} patients now)"
        else:
            # ``to``'s totals before and after: the start's group it continues, if any.
            origin = continues.get(after)
            into = f"{was[origin]:,} -> {now[after]:,}" if origin is not None else f"new, {now[after]:,}"
            reason = (
                f"moved by hand: from {before} ({was[before]:,} -> {_continued(now, continues, before):,} "
                f"patients) to {after} ({into})"
            )
        row = (code, display_name(str(name or "")), before or "", after or "", names.get(after or "", ""))
        rows.append((*row, int(sizes[code]), reason))
    return pd.DataFrame(rows, columns=list(MOVE_COLUMNS))


def _totals(plan: Plan, sizes: pd.Series) -> dict[str, int]:
    """Return each group's patients."""
    return {pcn: int(sizes.reindex(list(members)).fillna(0).sum()) for pcn, members in plan.groups.items()}


def _continued(now: Mapping[str, int], continues: Mapping[str, str], before: str) -> int:
    """Return the patients now in the group that continues ``before`` (0 when none does)."""
    return next((now[after] for after, origin in continues.items() if origin == before), 0)
