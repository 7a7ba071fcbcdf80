"""The shared currency of every stage: a :class:`Plan` maps practice code to PCN id."""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment

from footprint._io import atomic_write, read_text_csv
from footprint.errors import DataError, PlanError

__all__ = [
    "NAME_COLUMNS",
    "PLAN_COLUMNS",
    "Plan",
    "aligned_groups",
    "group_areas",
    "keep_ids",
    "match_groups",
    "moved_practices",
    "name_groups",
    "plan_from_practices",
    "read_plan",
    "rename_ids_in",
    "transfer_distance",
    "write_plan",
]

logger = logging.getLogger(__name__)

#: Columns of a plan CSV, in order.
PLAN_COLUMNS = ["practice_code", "ccg_code", "pcn_id", "list_size"]
#: Columns :func:`write_plan` adds when given the networks' names: the name, and whether it is new.
NAME_COLUMNS = ["pcn_name", "pcn_name_new"]

#: PCN codes in a practices file that mean "not in a network" (NHS Digital's pseudo-PCN).
OPEN_PCN_CODES = frozenset({"", "U"})


@dataclass(frozen=True)
class Plan:
    """An assignment of practices to PCNs.

    Parameters
    ----------
    assignment
        Practice code to PCN id; ``None`` marks an open practice (not yet agreed).
    info
        Free-form facts about how the plan was made (e.g. per-CCG solver status),
        kept with the plan and written beside it by the command line.

    Examples
    --------
    >>> plan = Plan({"A1": "p1", "A2": "p1", "A3": "p2"})
    >>> sorted(map(sorted, plan.partition))
    [['A1', 'A2'], ['A3']]
    """

    assignment: Mapping[str, str | None]
    info: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "assignment", dict(self.assignment))

    def __len__(self) -> int:
        return len(self.assignment)

    @property
    def groups(self) -> dict[str, frozenset[str]]:
        """PCN id to the frozenset of its member practice codes (open practices left out)."""
        members: dict[str, set[str]] = {}
        for code, pcn in self.assignment.items():
            if pcn is not None:
                members.setdefault(pcn, set()).add(code)
        return {pcn: frozenset(codes) for pcn, codes in sorted(members.items())}

    @property
    def partition(self) -> frozenset[frozenset[str]]:
        """The groups as a set of frozensets, for comparing plans whatever their ids."""
        return frozenset(self.groups.values())

    @property
    def open_practices(self) -> list[str]:
        """Codes of the practices not assigned to any PCN."""
        return sorted(code for code, pcn in self.assignment.items() if pcn is None)

    def to_series(self) -> pd.Series:
        """Return the plan as a Series of PCN ids (``None`` for open practices) by practice code.

        Examples
        --------
        >>> Plan({"A1": "p1", "A2": None}).to_series().to_dict()
        {'A1': 'p1', 'A2': None}
        """
        series = pd.Series(self.assignment, dtype=object, name="pcn_id")
        series.index.name = "practice_code"
        return series

    @classmethod
    def from_series(cls, series: pd.Series, info: Mapping[str, Any] | None = None) -> Plan:
        """Return the plan a Series of PCN ids by practice code describes (missing values: open).

        Examples
        --------
        >>> Plan.from_series(pd.Series({"A1": "p1", "A2": float("nan")})).assignment
        {'A1': 'p1', 'A2': None}
        """
        if not series.index.is_unique:
            dup = sorted(set(series.index[series.index.duplicated()].astype(str)))
            msg = f"practice code(s) {', '.join(dup[:10])} appear more than once: give each practice one PCN"
            raise PlanError(msg)
        return cls(
            {
                str(code): (None if pd.isna(pcn) or str(pcn).strip() == "" else str(pcn))
                for code, pcn in series.items()
            },
            info or {},
        )

    def restrict(self, codes: Iterable[str]) -> Plan:
        """Return the plan of only the practices in ``codes`` (those it holds)."""
        keep = set(codes)
        return Plan({c: p for c, p in self.assignment.items() if c in keep}, self.info)

    def to_frame(self, practices: pd.DataFrame | None = None) -> pd.DataFrame:
        """Return the plan as a table with the columns of :data:`PLAN_COLUMNS`.

        Parameters
        ----------
        practices
            The practices table (indexed by practice code) that supplies ``ccg_code`` and
            ``list_size``; without it those columns are left empty.
        """
        frame = pd.DataFrame(
            {"practice_code": list(self.assignment), "pcn_id": list(self.assignment.values())}
        )
        if practices is not None:
            _check_codes_known(self.assignment, practices)
            frame["ccg_code"] = practices.loc[frame["practice_code"], "ccg_code"].to_numpy()
            frame["list_size"] = practices.loc[frame["practice_code"], "list_size"].to_numpy()
        else:
            frame["ccg_code"] = None
            frame["list_size"] = np.nan
        return frame[PLAN_COLUMNS].sort_values(["ccg_code", "pcn_id", "practice_code"], na_position="last")


def _check_codes_known(codes: Iterable[str], practices: pd.DataFrame) -> None:
    unknown = sorted(set(codes) - set(practices.index))
    if unknown:
        msg = (
            f"{len(unknown)} practice code(s) in the plan are not in the practices file: "
            f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}; "
            "remove them from the plan or add them to the practices file"
        )
        raise PlanError(msg)


def plan_from_practices(practices: pd.DataFrame) -> Plan:
    """Return the current PCNs recorded in the practices table's ``pcn_code`` column.

    Practices with a blank code or NHS Digital's ``U`` ("Unallocated") are open.

    Raises
    ------
    DataError
        If the practices table has no ``pcn_code`` column.
    """
    if "pcn_code" not in practices.columns:
        msg = (
            "the practices file has no pcn_code column, so there are no current PCNs: "
            "give a plan file (practice_code,pcn_id) instead"
        )
        raise DataError(msg)
    codes = practices["pcn_code"].fillna("").astype(str).str.strip()
    return Plan({c: (None if p in OPEN_PCN_CODES else p) for c, p in codes.items()})


def read_plan(
    path: str | os.PathLike[str],
    practices: pd.DataFrame | None = None,
    *,
    on_duplicate: Literal["raise", "first"] = "raise",
) -> Plan:
    """Read a plan CSV with columns ``practice_code`` and ``pcn_id``.

    Other columns (``ccg_code``, ``list_size``) are ignored: the practices file wins.
    A blank ``pcn_id`` means the practice is open.

    Parameters
    ----------
    path
        The plan CSV.
    practices
        If given, every code in the plan must be one of its practices.
    on_duplicate
        ``"raise"``: a practice listed twice is an error; ``"first"``: keep its first row
        and list the repeated codes in ``plan.info["duplicates"]`` (for checking a plan).

    Raises
    ------
    DataError
        If the file is missing, lacks a required column or repeats a practice.
    PlanError
        If the plan names practices that ``practices`` does not hold.
    """
    path = Path(path)
    frame = read_text_csv(path, what="plan file", expect="a CSV with columns practice_code,pcn_id")
    missing = [c for c in ("practice_code", "pcn_id") if c not in frame.columns]
    if missing:
        msg = (
            f"plan file {path} lacks column(s) {', '.join(missing)} (found: {', '.join(frame.columns)}); "
            "a plan CSV needs practice_code and pcn_id"
        )
        raise DataError(msg)
    codes = frame["practice_code"].str.upper()
    dup = codes[codes.duplicated(keep=False)]
    if len(dup) and on_duplicate == "raise":
        lines = ", ".join(f"{c} (line {i + 2})" for i, c in dup.items())
        msg = f"plan file {path} lists practice(s) more than once: {lines}; keep one row per practice"
        raise DataError(msg)
    first = ~codes.duplicated(keep="first")
    pcn = frame["pcn_id"]
    assignment = {c: (p or None) for c, p in zip(codes[first], pcn[first], strict=True)}
    plan = Plan(assignment, {"duplicates": sorted(set(dup))} if len(dup) else {})
    if practices is not None:
        _check_codes_known(plan.assignment, practices)
    return plan


def write_plan(
    plan: Plan,
    path: str | os.PathLike[str],
    practices: pd.DataFrame,
    *,
    names: Mapping[str, str] | None = None,
    new: Iterable[str] = (),
) -> Path:
    """Write ``plan`` as CSV (columns :data:`PLAN_COLUMNS`) atomically and return the path.

    With ``names`` (PCN id to name, e.g. ``footprint.places.group_names``), each row also
    gives its network's ``pcn_name`` and :data:`NAME_COLUMNS`' ``pcn_name_new``: ``true``
    for the ids in ``new`` (a new network, named by footprint), ``false`` for a name kept
    as published; both are blank for an open practice. Reading a plan ignores them.
    """
    path = Path(path)
    frame = plan.to_frame(practices)
    if names is not None:
        fresh = set(new)
        pcn = frame["pcn_id"]
        frame["pcn_name"] = [names.get(p, "") if isinstance(p, str) else "" for p in pcn]
        frame["pcn_name_new"] = [
            ("true" if p in fresh else "false") if isinstance(p, str) else "" for p in pcn
        ]
    with atomic_write(path) as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")
    return path


def match_groups(a: Plan, b: Plan) -> dict[str, str]:
    """Match the groups of ``b`` one to one with those of ``a``, keeping the most practices in place.

    A maximum-weight matching on the practices two groups share (only practices assigned
    in both plans count); groups left unmatched are absent. Of matchings that keep as many
    practices in place, the one in which most groups of ``b`` hold more than half of their
    practices from the group they continue is taken (so the ids :func:`keep_ids` keeps and
    the practices :func:`moved_practices` moves agree).

    Returns
    -------
    dict
        Group of ``b`` to the group of ``a`` it continues.

    Examples
    --------
    >>> match_groups(Plan({"A": "1", "B": "1", "C": "2"}), Plan({"A": "x", "B": "x", "C": "y"}))
    {'x': '1', 'y': '2'}
    """
    common = [c for c, p in a.assignment.items() if p is not None and b.assignment.get(c) is not None]
    if not common:
        return {}
    table = pd.crosstab(
        pd.Series([a.assignment[c] for c in common]), pd.Series([b.assignment[c] for c in common])
    )
    shared = table.to_numpy()
    groups = b.groups  # built once: a property that walks the whole plan
    size = np.array([len(groups[str(g)]) for g in table.columns])
    # Ties broken towards continuations that hold more than half of their group: the bonus
    # (at most one per group matched) never outweighs one practice kept in place.
    weight = shared * (min(shared.shape) + 1) + (2 * shared > size)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return {
        str(table.columns[j]): str(table.index[i])
        for i, j in zip(rows, cols, strict=True)
        if shared[i, j] > 0
    }


def moved_practices(a: Plan, b: Plan) -> dict[str, tuple[str, str]]:
    """Return the practices that change group from ``a`` to ``b``: code to (group in a, group in b).

    A practice moves when its group in ``b`` does not continue its group in ``a`` under
    :func:`match_groups`; their count is the :func:`transfer_distance`.

    Examples
    --------
    >>> moved_practices(Plan({"A": "1", "B": "1", "C": "2"}), Plan({"A": "x", "B": "y", "C": "y"}))
    {'B': ('1', 'y')}
    """
    continues = match_groups(a, b)
    return {
        c: (str(a.assignment[c]), str(q))
        for c, q in b.assignment.items()
        if q is not None and a.assignment.get(c) is not None and continues.get(q) != a.assignment[c]
    }


def keep_ids(plan: Plan, previous: Plan, *, fixed: Iterable[str] = ()) -> Plan:
    """Return ``plan`` with each group that continues a group of ``previous`` named as that group.

    A group continues the group of ``previous`` it is matched with (:func:`match_groups`)
    when more than half of its practices come from it; it then keeps that group's id (and
    so, for current PCNs, its code and name). The ``fixed`` ids of ``plan`` (e.g. those an
    agreed group gave it) are final: never renamed, and never given to another group.
    Any other group keeps its id unless that id is taken, when it gets the next free
    ``<CCG>-<nn>`` (or a ``-new`` suffix, for an id of another form). ``info["renamed"]``
    maps every changed id to its new one (see :func:`rename_ids_in`).

    Examples
    --------
    >>> old = Plan({"A": "U1", "B": "U1", "C": "U2"})
    >>> keep_ids(Plan({"A": "X-01", "B": "X-01", "C": "X-02"}), old).assignment
    {'A': 'U1', 'B': 'U1', 'C': 'U2'}
    >>> keep_ids(Plan({"A": "X-01", "B": "X-01", "C": "U1"}), old, fixed=["U1"]).assignment
    {'A': 'X-01', 'B': 'X-01', 'C': 'U1'}
    """
    groups = plan.groups
    final = set(fixed) & set(groups)
    rename = {pcn: pcn for pcn in final}
    for new, old in match_groups(previous, plan).items():
        shared = sum(previous.assignment.get(c) == old for c in groups[new])
        if new not in final and old not in final and 2 * shared > len(groups[new]):
            rename[new] = old
    taken = set(rename.values())
    for pcn in sorted(groups):
        if pcn not in rename:
            rename[pcn] = _free_id(pcn, taken | set(groups) - {pcn}) if pcn in taken else pcn
            taken.add(rename[pcn])
    assignment = {c: None if p is None else rename[p] for c, p in plan.assignment.items()}
    changed = {old: new for old, new in rename.items() if old != new}
    earlier = {k: changed.get(v, v) for k, v in plan.info.get("renamed", {}).items()}
    return Plan(assignment, {**plan.info, "renamed": {**earlier, **changed}})


def name_groups(plan: Plan, *, agreed: Plan | None = None, current: Plan | None = None) -> Plan:
    """Return ``plan`` with its groups named by the one rule for plan ids.

    A group that holds an ``agreed`` group keeps that group's id (final); else a group that
    continues a ``current`` PCN keeps its code, unless an agreed group already has it; else it
    keeps its own id, or the next free ``<CCG>-<nn>`` where that is taken (:func:`keep_ids`).
    Stable on a round trip: a plan named so, agreed whole, comes back with the same ids.

    Examples
    --------
    >>> current = Plan({"A": "U1", "B": "U1", "C": "U2"})
    >>> name_groups(Plan({"A": "X-01", "B": "X-01", "C": "X-02"}), current=current).assignment
    {'A': 'U1', 'B': 'U1', 'C': 'U2'}
    """
    fixed: set[str] = set()
    if agreed is not None and agreed.groups:
        plan = keep_ids(plan, agreed)
        fixed = set(agreed.groups) & set(plan.groups)
    if current is not None and current.groups:
        plan = keep_ids(plan, current, fixed=fixed)
    return plan


def _free_id(pcn: str, taken: set[str]) -> str:
    """Return an id like ``pcn`` that is not ``taken``: the next free ``<CCG>-<nn>``, else ``pcn-new``.

    Examples
    --------
    >>> _free_id("91Q-19", {"91Q-19", "91Q-20", "91Q-03"})
    '91Q-21'
    >>> _free_id("U37339", {"U37339"})
    'U37339-new'
    """
    numbered = re.fullmatch(r"(.+)-(\d+)", pcn)
    if numbered is None:
        candidates = (f"{pcn}-new" if k == 1 else f"{pcn}-new{k}" for k in itertools.count(1))
        return next(c for c in candidates if c not in taken)
    prefix, digits = numbered.groups()
    used = [int(m.group(1)) for t in taken if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", t))]
    return f"{prefix}-{max(used, default=0) + 1:0{len(digits)}d}"


def rename_ids_in(text: str, renamed: Mapping[str, str]) -> str:
    """Return ``text`` with every PCN id in ``renamed`` replaced by its new id (whole ids only).

    Examples
    --------
    >>> rename_ids_in("X-01 borders X-010 and X-02", {"X-01": "U1", "X-02": "U2"})
    'U1 borders X-010 and U2'
    """
    if not renamed:
        return text
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(map(re.escape, sorted(renamed, key=len, reverse=True))) + r")(?![\w-])"
    )
    return pattern.sub(lambda m: renamed[m.group(1)], text)


def aligned_groups(plans: Mapping[str, Plan]) -> pd.DataFrame:
    """Return, per practice and plan, the first plan's group that the practice's group continues.

    Each plan's groups are matched to the first plan's (:func:`match_groups`), so groups
    renamed or renumbered still line up; a group that continues none is ``None``.

    Returns
    -------
    pandas.DataFrame
        Indexed by practice code (every practice of any plan), one column per plan, plus
        ``contested``: in how many plans the practice's aligned group differs from the
        first plan's (0: settled).

    Examples
    --------
    >>> a = Plan({"A": "1", "B": "1", "C": "2"})
    >>> b = Plan({"A": "x", "B": "y", "C": "y"})
    >>> aligned_groups({"a": a, "b": b})["contested"].to_dict()
    {'A': 0, 'B': 1, 'C': 0}
    """
    names = list(plans)
    first = plans[names[0]]
    codes = sorted(set().union(*(p.assignment for p in plans.values())))
    columns = {names[0]: [first.assignment.get(c) for c in codes]}
    for name in names[1:]:
        continues = match_groups(first, plans[name])
        own = plans[name].assignment
        columns[name] = [None if own.get(c) is None else continues.get(str(own[c])) for c in codes]
    frame = pd.DataFrame(columns, index=pd.Index(codes, name="practice_code"), dtype=object)
    base = frame[names[0]]
    frame["contested"] = sum((frame[n] != base).astype(int) for n in names[1:]) if len(names) > 1 else 0
    return frame


def transfer_distance(a: Plan, b: Plan) -> int:
    """Return the fewest practices that must change group to turn ``a`` into ``b``.

    Groups of the two plans are matched one to one so as to keep the most practices
    in place (a maximum-weight matching); every practice outside the matched overlap
    moves. Only practices assigned in both plans count.

    Examples
    --------
    >>> transfer_distance(Plan({"A": "1", "B": "1", "C": "2"}), Plan({"A": "x", "B": "y", "C": "y"}))
    1
    """
    return len(moved_practices(a, b))


def group_areas(
    plan: Plan, cells: gpd.GeoSeries, practices: pd.DataFrame, *, drawn: Collection[str] | None = None
) -> gpd.GeoDataFrame:
    """Return one polygon per group: the union of its members' cells, with its figures.

    Parameters
    ----------
    plan
        The plan (open practices are left out).
    cells
        Practice cells by code (see :func:`footprint.graph.cells`).
    practices
        Supplies ``list_size`` and ``ccg_code``.
    drawn
        Only these groups' polygons are made (the others' geometry is ``None``); default all.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``pcn_id``; columns ``ccg_code``, ``list_size``, ``members`` and geometry
        in the cells' CRS. Practices of one building in different groups share their cell,
        so such groups overlap there.
    """
    codes = [c for c, p in plan.assignment.items() if p is not None]
    ccgs = practices.loc[codes, "ccg_code"].tolist()
    sizes = practices.loc[codes, "list_size"].tolist()
    wkbs = shapely.to_wkb(cells.loc[codes].to_numpy()).tolist()
    members: dict[str, list[int]] = {}
    for k, code in enumerate(codes):
        members.setdefault(plan.assignment[code], []).append(k)  # type: ignore[arg-type]
    rows = []
    for pcn in sorted(members):
        group = members[pcn]
        shape = None
        if drawn is None or pcn in drawn:
            # Practices of one building share a cell: union each distinct cell once (first seen first).
            unique = shapely.from_wkb(list(dict.fromkeys(wkbs[k] for k in group)))
            shape = unique[0] if len(unique) == 1 else shapely.union_all(unique)
        rows.append(
            {
                "pcn_id": pcn,
                "ccg_code": ",".join(sorted({ccgs[k] for k in group})),
                "list_size": int(sum(sizes[k] for k in group)),
                "members": len(group),
                "geometry": shape,
            }
        )
    columns = ["pcn_id", "ccg_code", "list_size", "members", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=cells.crs).set_index("pcn_id")
