"""Locks and moves between plans: agreed groups laid over a plan, and the practices moved since the start.

:func:`apply_lock` lays the agreed groups of a lock file over the starting plan;
:func:`moves_between` lists the practices whose group changed, the rows of the moves
file the editor saves (columns :data:`MOVE_COLUMNS`).
"""

from __future__ import annotations

import pandas as pd

from footprint.plan import Plan, match_groups

#: Columns of the moves file, in order.
MOVE_COLUMNS = ("practice", "name", "from", "to", "patients")


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


def moves_between(start: Plan, plan: Plan, practices: pd.DataFrame) -> pd.DataFrame:
    """Return the practices whose group changes from ``start`` to ``plan``, one row each.

    Groups of ``plan`` are matched to those of ``start`` as in the transfer distance
    (:func:`footprint.plan.match_groups`), so a group that only changed its id does not
    count as moved. A practice opened or placed counts too (its ``from`` or ``to`` is
    blank).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MOVE_COLUMNS`: ``practice`` (code), ``name``, ``from`` and ``to``
        (group ids in ``start`` and ``plan``) and ``patients`` (its list size).

    Examples
    --------
    >>> practices = pd.DataFrame({"practice_name": ["A", "B"], "list_size": [10, 20]}, index=["A", "B"])
    >>> moves_between(Plan({"A": "p", "B": "p"}), Plan({"A": "p", "B": None}), practices).values.tolist()
    [['B', 'B', 'p', '', 20]]
    """
    continues = match_groups(start, plan)
    rows = []
    for code in sorted(set(start.assignment) | set(plan.assignment)):
        before, after = start.assignment.get(code), plan.assignment.get(code)
        if before is None and after is None:
            continue
        if after is not None and before is not None and continues.get(after) == before:
            continue
        name = practices.at[code, "practice_name"] if "practice_name" in practices.columns else ""
        rows.append((code, str(name or ""), before or "", after or "", int(practices.at[code, "list_size"])))
    return pd.DataFrame(rows, columns=list(MOVE_COLUMNS))
