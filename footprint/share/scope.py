"""What a CD-sharing analysis covers: what it leaves out and why, its areas and their totals.

:func:`left_out` lists every practice given that is in no PCN of the plan (open, or not in the
plan) and every plan practice missing from the graph, each with why, and the CCGs with no
practice in a PCN; :func:`areas_of` reads each practice's CCG and ICB (``icb_code``, or the
STP's ``stp_code`` on 2022 data) and their names from the practices table; :func:`area_totals`
totals the arrangement by ICB: PCNs and CD posts, patients, funded time and money, and the
mean distance to the base, now and shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx
import pandas as pd

from footprint.icbs import icb_column
from footprint.plan import Plan

__all__ = [
    "AREA_COLUMNS",
    "LEFT_OUT_COLUMNS",
    "Areas",
    "area_totals",
    "areas_of",
    "left_out",
    "list_size_date",
]

#: Columns of ``left_out.csv``, in order.
LEFT_OUT_COLUMNS = ("practice_code", "practice_name", "ccg_code", "list_size", "why")
#: Columns of the totals by ICB (``icbs.csv``), in order.
AREA_COLUMNS = (
    "icb_code",
    "icb_name",
    "ccgs",
    "pcns",
    "practices",
    "patients",
    "cd_posts",
    "fewer_posts",
    "wte",
    "gbp",
    "wte_per_post_now",
    "wte_per_post",
    "mean_km_now",
    "mean_km",
)
#: Why a practice is left out.
OPEN = "open: in no PCN of the plan"
NOT_IN_PLAN = "not in the plan"
NOT_GIVEN = "in a PCN of the plan but not among the practices given (no position or list size)"


@dataclass(frozen=True)
class Areas:
    """Each practice's CCG and ICB, with the areas' names (from the practices table)."""

    icb: dict[str, str] = field(default_factory=dict)
    icb_names: dict[str, str] = field(default_factory=dict)
    #: ``"ICB"``, or ``"STP"`` where the practices name the STP (2022 data: ICBs began in July 2022).
    kind: str = "ICB"
    ccg_names: dict[str, str] = field(default_factory=dict)
    pcn_names: dict[str, str] = field(default_factory=dict)


def areas_of(practices: pd.DataFrame | None) -> Areas:
    """Return the practices' ICBs and the names of their ICBs, CCGs and current PCNs.

    Parameters
    ----------
    practices
        Indexed by practice code, with ``ccg_code`` and optionally ``ccg_name``,
        ``icb_code``/``icb_name`` (or ``stp_code``/``stp_name`` on 2022 data) and
        ``pcn_code``/``pcn_name``. ``None`` gives no areas.

    Returns
    -------
    Areas

    Examples
    --------
    >>> practices = pd.DataFrame(
    ...     {"ccg_code": ["A"], "ccg_name": ["CCG A"], "stp_code": ["Q1"], "stp_name": ["STP 1"]},
    ...     index=["P1"],
    ... )
    >>> areas = areas_of(practices)
    >>> areas.icb, areas.icb_names, areas.kind
    ({'P1': 'Q1'}, {'Q1': 'STP 1'}, 'STP')
    """
    if practices is None:
        return Areas()
    column = icb_column(practices)
    icb = practices[column].astype(str).str.strip().to_dict() if column else {}
    name_column = {"icb_code": "icb_name", "stp_code": "stp_name"}.get(column or "")

    def names(code: str, name: str | None) -> dict[str, str]:
        if code not in practices.columns or name not in practices.columns:
            return {}
        pairs = practices[[code, name]].dropna().astype(str)
        pairs = pairs[(pairs[code].str.strip() != "") & (pairs[name].str.strip() != "")]
        return pairs.groupby(code)[name].first().to_dict()

    return Areas(
        icb=icb,
        kind="STP" if column == "stp_code" else "ICB",
        icb_names=names(column or "", name_column),
        ccg_names=names("ccg_code", "ccg_name"),
        pcn_names=names("pcn_code", "pcn_name"),
    )


def list_size_date(practices: pd.DataFrame | None) -> str | None:
    """Return the one date of the practices' list sizes (``list_size_date``, else ``data_date``), if one."""
    for column in ("list_size_date", "data_date"):
        if practices is not None and column in practices.columns:
            dates = set(practices[column].dropna().astype(str))
            return dates.pop() if len(dates) == 1 else None
    return None


def left_out(plan: Plan, graph: nx.Graph, pcns: nx.Graph) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return the practices left out of the analysis, with why, and the CCGs with no PCN.

    A practice given (a node of ``graph``) is left out when it is open in the plan or not in
    it; a practice the plan puts in a PCN is left out when ``graph`` lacks it.

    Parameters
    ----------
    plan
        The plan analysed.
    graph
        The graph of the practices given.
    pcns
        The plan's PCNs among them (:func:`~footprint.share.candidates.pcn_graph`).

    Returns
    -------
    tuple
        The table (:data:`LEFT_OUT_COLUMNS`, by CCG then code) and CCG code to why none of
        its practices given is in a PCN of the plan.
    """
    in_pcn = {c for _, members in pcns.nodes(data="members") for c in members}
    rows = []
    by_ccg: dict[str, list[str]] = {}
    for code, data in sorted(graph.nodes(data=True)):
        ccg = str(data.get("ccg_code", ""))
        by_ccg.setdefault(ccg, []).append(code)
        if code in in_pcn:
            continue
        why = NOT_IN_PLAN if code not in plan.assignment else OPEN
        rows.append((code, data.get("practice_name", ""), ccg, int(data.get("list_size", 0)), why))
    rows += [
        (code, "", "", 0, NOT_GIVEN)
        for code, group in sorted(plan.assignment.items())
        if group is not None and code not in graph
    ]
    table = pd.DataFrame(rows, columns=list(LEFT_OUT_COLUMNS)).sort_values(
        ["ccg_code", "practice_code"], kind="stable", ignore_index=True
    )
    missing = {}
    for ccg, codes in sorted(by_ccg.items()):
        if not any(c in in_pcn for c in codes):
            opened = sum(plan.assignment.get(c, "") is None for c in codes)
            absent = sum(c not in plan.assignment for c in codes)
            missing[ccg] = (
                f"none of its {len(codes):,} practices is in a PCN of the plan "
                f"({opened:,} open, {absent:,} not in the plan)"
            )
    return table, missing


def _home(codes: list[str], sizes: Mapping[str, int], icb: Mapping[str, str]) -> str:
    """Return the ICB holding most of the patients of practices ``codes`` (ties: the first code)."""
    patients: dict[str, int] = {}
    for c in codes:
        patients[icb.get(c, "")] = patients.get(icb.get(c, ""), 0) + int(sizes[c])
    return min(patients, key=lambda k: (-patients[k], k)) if patients else ""


def area_totals(
    arrangement: pd.DataFrame, posts: pd.DataFrame, graph: nx.Graph, pcns: nx.Graph, areas: Areas
) -> pd.DataFrame:
    """Return the arrangement totalled by ICB (:data:`AREA_COLUMNS`); empty without ICBs.

    A PCN, and a CD post, belongs to the ICB holding most of its patients.

    Parameters
    ----------
    arrangement
        One row per PCN: ``pcn_id``, ``patients``, ``practices``, ``wte``, ``gbp``, ``cost``
        (patient-metres to its post's base) and ``own_cost`` (to its own).
    posts
        One row per CD post: ``pcns`` (its PCN ids, space-separated).
    """
    if not areas.icb:
        return pd.DataFrame(columns=list(AREA_COLUMNS))
    sizes = dict(graph.nodes(data="list_size", default=0))
    ccg = dict(graph.nodes(data="ccg_code", default=""))
    members = {p: list(m) for p, m in pcns.nodes(data="members")}
    home = {p: _home(m, sizes, areas.icb) for p, m in members.items()}
    post_home = [
        _home([c for p in pcns_.split() for c in members[p]], sizes, areas.icb) for pcns_ in posts["pcns"]
    ]
    rows = arrangement.set_index("pcn_id")
    records = []
    for code in sorted(set(home.values())):
        mine = rows.loc[[p for p, h in home.items() if h == code]]
        ccgs = sorted({str(ccg[c]) for p in mine.index for c in members[p]})
        patients = int(mine["patients"].sum())
        posts_here = post_home.count(code)
        wte = None if mine["wte"].isna().any() else round(float(mine["wte"].sum()), 3)
        gbp = None if mine["gbp"].isna().any() else round(float(mine["gbp"].sum()), 2)
        records.append(
            {
                "icb_code": code,
                "icb_name": areas.icb_names.get(code, ""),
                "ccgs": " ".join(ccgs),
                "pcns": len(mine),
                "practices": int(mine["practices"].sum()),
                "patients": patients,
                "cd_posts": posts_here,
                "fewer_posts": len(mine) - posts_here,
                "wte": wte,
                "gbp": gbp,
                "wte_per_post_now": None if wte is None or not len(mine) else round(wte / len(mine), 4),
                "wte_per_post": None if wte is None or not posts_here else round(wte / posts_here, 4),
                "mean_km_now": round(float(mine["own_cost"].sum()) / patients / 1000, 3) if patients else 0.0,
                "mean_km": round(float(mine["cost"].sum()) / patients / 1000, 3) if patients else 0.0,
            }
        )
    return pd.DataFrame(records, columns=list(AREA_COLUMNS))
