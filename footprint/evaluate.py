"""Judge a plan: the rules it breaks, its groups and how good it is.

:func:`check_plan` lists broken rules, :func:`group_table` gives one row per group and
:func:`score_plan` the figures of merit.

Evaluation works on any :class:`~footprint.plan.Plan` (the solver's, the current PCNs,
a planner's file) and never depends on OR-Tools. Every figure about a group (its total,
its status under the one band rule of :class:`~footprint.config.Rules`, its centre, far
members and funded clinical-director time) is computed here once, and drawn by render.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from footprint.config import COMPACTNESS_GAP, Rules
from footprint.graph import WITHIN_CCG
from footprint.places import display_name
from footprint.plan import Plan, aligned_groups, rename_ids_in, transfer_distance

__all__ = [
    "CD_WTE_PER_PATIENT",
    "FAR_KM",
    "FINDING_COLUMNS",
    "GROUP_COLUMNS",
    "METRIC_COLUMNS",
    "PlanScore",
    "Violation",
    "agreed_pieces",
    "check_plan",
    "compactness_km",
    "compare_plans",
    "funded_cd_wte",
    "group_problems",
    "group_table",
    "plan_differences",
    "plan_findings",
    "plan_metrics",
    "plan_summary",
    "practices_from_graph",
    "score_plan",
]

#: Funded clinical-director time per registered patient: 0.25 WTE per 50,000 patients
#: (shared/POLICY.md, "Funding").
CD_WTE_PER_PATIENT = 0.25 / 50_000
#: A member further than this from its group's list-weighted centre is flagged as far-flung.
FAR_KM = 20.0
#: Columns of :func:`group_table`, in order (indexed by PCN id).
GROUP_COLUMNS = (
    "ccg_code",
    "members",
    "practices",
    "list_size",
    "rural",
    "status",
    "exempt",
    "in_band",
    "deviation",
    "verdict",
    "centre_x",
    "centre_y",
    "mean_km",
    "max_km",
    "far_members",
    "funded_cd_wte",
    "name",
)


def funded_cd_wte(list_size: float) -> float:
    """Return the clinical-director time funded for ``list_size`` patients, in WTE.

    Examples
    --------
    >>> funded_cd_wte(50_000)
    0.25
    >>> round(funded_cd_wte(42_000), 3)
    0.21
    """
    return list_size * CD_WTE_PER_PATIENT


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, the PCN (if any), the practices and a plain explanation."""

    rule: str
    pcn_id: str | None
    practices: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class PlanScore:
    """Figures of merit of a plan (practices open in the plan are left out)."""

    groups: int
    out_of_band: int
    exempt: int
    in_band_patients: int
    patients: int
    deviation: int
    split_sites: int
    compactness_km: float

    @property
    def not_exempt(self) -> int:
        """Groups out of band that are not exempt: the ones that break the band rule."""
        return self.out_of_band - self.exempt

    @property
    def in_band_share(self) -> float:
        """Share of patients in groups inside the band."""
        return self.in_band_patients / self.patients if self.patients else 0.0


def check_plan(
    plan: Plan, graph: nx.Graph, *, allow_cross: Mapping[str, str] | None = None
) -> list[Violation]:
    """Return the hard rules ``plan`` breaks on ``graph`` (an empty list when it is valid).

    Rules: every practice of the graph is in the plan exactly once and assigned; no group
    crosses a CCG boundary (except practices ``allow_cross`` lets join a named CCG); every
    group is connected by within-CCG edges (or, for allowed practices, ``cross_ccg`` edges).
    """
    allow_cross = allow_cross or {}
    found: list[Violation] = []
    missing = sorted(set(graph) - set(plan.assignment))
    if missing:
        found.append(
            Violation("coverage", None, tuple(missing), f"{len(missing)} practice(s) not in the plan")
        )
    unknown = sorted(set(plan.assignment) - set(graph))
    if unknown:
        found.append(
            Violation("coverage", None, tuple(unknown), f"{len(unknown)} practice(s) not in the graph")
        )
    if plan.open_practices:
        codes = tuple(c for c in plan.open_practices if c in graph)
        if codes:
            found.append(Violation("coverage", None, codes, f"{len(codes)} practice(s) in no PCN"))
    for pcn, members in plan.groups.items():
        members = frozenset(m for m in members if m in graph)
        home = {m: allow_cross.get(m, graph.nodes[m]["ccg_code"]) for m in members}
        ccgs = sorted(set(home.values()))
        if len(ccgs) > 1:
            found.append(
                Violation("ccg", pcn, tuple(sorted(members)), f"{pcn} crosses CCGs {', '.join(ccgs)}")
            )
        sub = nx.Graph()
        sub.add_nodes_from(members)
        sub.add_edges_from(
            (a, b)
            for a, b, kind in graph.subgraph(members).edges(data="type")
            if kind in WITHIN_CCG or a in allow_cross or b in allow_cross
        )
        if members and not nx.is_connected(sub):
            parts = sorted(sorted(p) for p in nx.connected_components(sub))
            found.append(
                Violation(
                    "contiguity",
                    pcn,
                    tuple(sorted(members)),
                    f"{pcn} falls into {len(parts)} pieces: " + "; ".join(", ".join(p) for p in parts),
                )
            )
    return found


def compactness_km(plan: Plan, graph: nx.Graph) -> float:
    """Return the list-weighted mean distance, in km, from each practice to its group's centre.

    The centre is the list-weighted mean position of the group's practices.

    Examples
    --------
    >>> g = nx.Graph()
    >>> g.add_node("A", x=0, y=0, list_size=1)
    >>> g.add_node("B", x=2000, y=0, list_size=1)
    >>> compactness_km(Plan({"A": "p", "B": "p"}), g)
    1.0
    """
    total, weighted = 0.0, 0.0
    for members in plan.groups.values():
        nodes = [graph.nodes[m] for m in members if m in graph]
        if not nodes:
            continue
        w = np.array([n["list_size"] for n in nodes], dtype=float)
        xy = np.array([[n["x"], n["y"]] for n in nodes])
        centre = (w[:, None] * xy).sum(axis=0) / w.sum()
        weighted += float((w * np.hypot(*(xy - centre).T)).sum())
        total += float(w.sum())
    return weighted / total / 1000 if total else 0.0


def practices_from_graph(graph: nx.Graph, *, rural: Iterable[str] = ()) -> pd.DataFrame:
    """Return the practices table :func:`group_table` needs, read from the graph's nodes.

    Columns ``list_size``, ``ccg_code``, ``practice_name``, ``x``, ``y`` and ``rural``
    (the codes in ``rural``), indexed by practice code.
    """
    frame = pd.DataFrame.from_dict(dict(graph.nodes(data=True)), orient="index")
    frame = frame.reindex(columns=["list_size", "ccg_code", "practice_name", "x", "y"])
    frame["rural"] = frame.index.isin(list(rural))
    return frame


def _positions(practices: pd.DataFrame) -> np.ndarray:
    if "x" in practices.columns and "y" in practices.columns:
        return practices[["x", "y"]].to_numpy(dtype=float)
    geometry = practices.geometry
    return np.column_stack([geometry.x.to_numpy(), geometry.y.to_numpy()])


def group_table(
    plan: Plan,
    practices: pd.DataFrame,
    *,
    rules: Rules | None = None,
    approved: Iterable[str] = (),
    far_km: float = FAR_KM,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return one row per group of ``plan``: its members, total, status and geography.

    Parameters
    ----------
    plan
        Any plan; its practices missing from ``practices`` are left out, open ones too.
    practices
        Indexed by practice code, with ``list_size``, ``ccg_code``, ``rural`` (optional)
        and positions in metres (EPSG:27700): a ``geometry`` of points, or ``x``/``y``
        columns (see :func:`practices_from_graph`).
    rules
        The band rule (default :class:`~footprint.config.Rules`); a group is rural when
        every member is flagged ``rural`` or sits in one of ``rules.rural_ccgs``.
    approved
        PCN ids a commissioner approved as exceptions (exempt when out of band).
    far_km
        Members further than this from the group's list-weighted centre are listed in
        ``far_members``.
    names
        Group id to a readable name (e.g. ``footprint.places.group_names(plan, practices)``),
        given in the ``name`` column; ``None`` where not named.

    Returns
    -------
    pandas.DataFrame
        Indexed by PCN id, with the columns of :data:`GROUP_COLUMNS`: ``ccg_code`` (the
        members' CCGs, comma-separated), ``members`` (tuple of codes), ``practices``,
        ``list_size``, ``rural``, ``status`` (see :meth:`~footprint.config.Rules.group_status`),
        ``exempt`` (the exemption or ``None``), ``in_band``, ``deviation`` (patients outside
        the band), ``verdict`` (the band rule's verdict in words), ``centre_x`` and
        ``centre_y`` (list-weighted centre, metres), ``mean_km``
        (list-weighted mean distance to the centre), ``max_km``, ``far_members``,
        ``funded_cd_wte`` and ``name`` (from ``names``).

    Examples
    --------
    >>> practices = pd.DataFrame(
    ...     {"list_size": [20_000, 15_000, 60_000], "ccg_code": "X", "x": [0, 2_000, 9_000], "y": 0},
    ...     index=["A", "B", "C"],
    ... )
    >>> table = group_table(Plan({"A": "p", "B": "p", "C": "q"}), practices)
    >>> int(table.at["p", "list_size"]), table.at["p", "status"], round(float(table.at["p", "mean_km"]), 3)
    (35000, 'in_band', 0.98)
    >>> table.at["q", "status"], table.at["q", "exempt"]
    ('exempt_large', 'large')
    """
    rules = rules or Rules()
    approved = set(approved)
    xy = _positions(practices)
    row_of = {code: k for k, code in enumerate(practices.index)}
    sizes = practices["list_size"].to_numpy(dtype=float)
    ccg = practices["ccg_code"].astype(str).to_numpy()
    flagged = (
        practices["rural"].fillna(False).astype(bool).to_numpy()
        if "rural" in practices.columns
        else np.zeros(len(practices), dtype=bool)
    )
    records = []
    for pcn, codes in plan.groups.items():
        members = tuple(sorted(c for c in codes if c in row_of))
        if not members:
            continue
        rows = np.array([row_of[c] for c in members])
        w = sizes[rows]
        total = int(w.sum())
        centre = (w @ xy[rows]) / w.sum()
        km = np.hypot(*(xy[rows] - centre).T) / 1000
        rural = all(rules.is_rural(ccg[r], flagged=bool(flagged[r])) for r in rows)
        status = rules.group_status(total, practices=len(members), rural=rural, approved=pcn in approved)
        records.append(
            {
                "pcn_id": pcn,
                "ccg_code": ",".join(sorted(set(ccg[rows]))),
                "members": members,
                "practices": len(members),
                "list_size": total,
                "rural": rural,
                "status": status,
                "exempt": status.removeprefix("exempt_") if status.startswith("exempt_") else None,
                "in_band": status == "in_band",
                "deviation": rules.deviation(total),
                "verdict": rules.describe(total, status),
                "centre_x": float(centre[0]),
                "centre_y": float(centre[1]),
                "mean_km": float(w @ km / w.sum()),
                "max_km": float(km.max()),
                "far_members": tuple(c for c, d in zip(members, km, strict=True) if d > far_km),
                "funded_cd_wte": funded_cd_wte(total),
                "name": (names or {}).get(pcn),
            }
        )
    return pd.DataFrame.from_records(records, columns=["pcn_id", *GROUP_COLUMNS]).set_index("pcn_id")


def group_problems(table: pd.DataFrame) -> dict[str, str]:
    """Return practice code to its group's problem, for groups that break the band rule.

    Exempt groups are not problems (they are allowed, and said to be exempt in their
    ``verdict``); groups below or above the band are.

    Examples
    --------
    >>> practices = pd.DataFrame(
    ...     {"list_size": [20_000, 5_000, 60_000], "ccg_code": "X", "x": 0, "y": 0}, index=["A", "B", "C"]
    ... )
    >>> problems = group_problems(group_table(Plan({"A": "p", "B": "p", "C": "q"}), practices))
    >>> sorted(problems), problems["A"]
    (['A', 'B'], 'its PCN p has 25,000 patients, out of band: 5,000 below 30,000-50,000')
    """
    problems: dict[str, str] = {}
    for pcn, row in table[table["status"].isin(["below", "above"])].iterrows():
        text = f"its PCN {pcn} has {int(row['list_size']):,} patients, {row['verdict']}"
        problems.update(dict.fromkeys(row["members"], text))
    return problems


def score_plan(
    plan: Plan,
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    rural: Iterable[str] = (),
    approved: Iterable[str] = (),
) -> PlanScore:
    """Return the figures of merit of ``plan``: groups, out of band, deviation, split buildings, compactness.

    Parameters
    ----------
    plan, graph
        The plan and the adjacency graph (node ``list_size``, ``x``, ``y``; ``site`` edges).
    rules
        The band rule (default :class:`~footprint.config.Rules`).
    rural
        Codes of practices flagged rural.
    approved
        PCN ids approved as exceptions.

    Examples
    --------
    >>> g = nx.Graph()
    >>> g.add_node("A", x=0, y=0, list_size=20_000, ccg_code="X", practice_name="A")
    >>> g.add_node("B", x=0, y=0, list_size=15_000, ccg_code="X", practice_name="B")
    >>> g.add_edge("A", "B", type="site")
    >>> score = score_plan(Plan({"A": "p", "B": "q"}), g)
    >>> score.out_of_band, score.split_sites
    (2, 1)
    """
    table = group_table(plan, practices_from_graph(graph, rural=rural), rules=rules, approved=approved)
    return _score(plan, graph, table)


def _score(plan: Plan, graph: nx.Graph, table: pd.DataFrame) -> PlanScore:
    """Return the figures of merit of ``plan`` from its group table (see :func:`score_plan`)."""
    out = ~table["in_band"]
    site = nx.Graph((a, b) for a, b, kind in graph.edges(data="type") if kind == "site")
    split = sum(
        len({plan.assignment.get(c) for c in component}) > 1 for component in nx.connected_components(site)
    )
    return PlanScore(
        groups=len(table),
        out_of_band=int(out.sum()),
        exempt=int(table["exempt"].notna().sum()),
        in_band_patients=int(table.loc[table["in_band"], "list_size"].sum()),
        patients=int(table["list_size"].sum()),
        deviation=int(table["deviation"].sum()),
        split_sites=split,
        compactness_km=compactness_km(plan, graph),
    )


def plan_summary(
    plan: Plan,
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    rural: Iterable[str] = (),
    approved: Iterable[str] = (),
    far_km: float = FAR_KM,
) -> dict:
    """Return what ``summary.json`` holds: England's figures and each CCG's solver report.

    Parameters
    ----------
    plan
        A plan; when made by the partitioner, ``plan.info["ccgs"]`` maps CCG code to a
        result with ``to_dict()``, ``status`` and ``stages`` (each with ``proven``).
    graph, rules, rural, approved
        As for :func:`score_plan`.
    far_km
        Members further than this from their group's list-weighted centre are listed in
        ``england["far_flung"]`` (practice, name, group, km).

    Returns
    -------
    dict
        ``{"england": {...}, "ccgs": {code: {"name": ..., ...}}}``, plain data for JSON;
        explanations name groups by their ids in ``plan`` (see :func:`footprint.plan.keep_ids`).
    """
    table = group_table(
        plan, practices_from_graph(graph, rural=rural), rules=rules, approved=approved, far_km=far_km
    )
    score = _score(plan, graph, table)
    results = dict(plan.info.get("ccgs", {}))
    far_flung = [
        {
            "practice_code": code,
            "practice_name": graph.nodes[code].get("practice_name", ""),
            "pcn_id": pcn,
            "km": round(
                float(np.hypot(graph.nodes[code]["x"] - row.centre_x, graph.nodes[code]["y"] - row.centre_y))
                / 1000,
                1,
            ),
        }
        for pcn, row in zip(table.index, table.itertuples(), strict=True)
        for code in row.far_members
    ]
    names = graph.graph.get("ccg_names", {})
    england = {
        "practices": len(plan),
        "groups": score.groups,
        "out_of_band": score.out_of_band,
        "exempt": score.exempt,
        "not_exempt": score.not_exempt,
        "in_band_share": round(score.in_band_share, 5),
        "deviation": score.deviation,
        "split_sites": score.split_sites,
        "compactness_km": round(score.compactness_km, 3),
        "ccgs": len(results),
        "ccgs_optimal": sum(r.status == "OPTIMAL" for r in results.values()),
        # Every stage proven or its bound within COMPACTNESS_GAP of its figure.
        "ccgs_within_gap": sum(
            all(s.status == "OPTIMAL" or s.gap <= COMPACTNESS_GAP for s in r.stages) for r in results.values()
        ),
        # How far each CCG's compactness may lie above the least (0 where proven): the median CCG's.
        "compactness_gap_median": round(
            statistics.median([r.stages[-1].gap for r in results.values() if r.stages] or [0.0]), 4
        ),
        "stage1_unproven": sorted(c for c, r in results.items() if not r.stages[0].proven),
        "far_km": far_km,
        "far_flung": sorted(far_flung, key=lambda f: -f["km"]),
    }
    renamed = plan.info.get("renamed", {})
    ccgs = {}
    for code, result in sorted(results.items()):
        report = {"name": names.get(code, code), **result.to_dict()}
        report["explanations"] = {
            rename_ids_in(pcn, renamed): rename_ids_in(why, renamed)
            for pcn, why in report.get("explanations", {}).items()
        }
        ccgs[code] = report
    return {"england": england, "ccgs": ccgs}


#: Columns of :func:`plan_findings`, in order.
FINDING_COLUMNS = ("ccg_code", "group", "practice_code", "rule", "severity", "detail")


def _name(graph: nx.Graph, code: str) -> str:
    name = str(graph.nodes[code].get("practice_name") or "").strip()
    return f"{display_name(name)} ({code})" if name else code


def _km(graph: nx.Graph, a: str, b: str) -> float:
    na, nb = graph.nodes[a], graph.nodes[b]
    return float(np.hypot(na["x"] - nb["x"], na["y"] - nb["y"]) / 1000)


def _coverage_findings(
    plan: Plan, graph: nx.Graph, duplicates: Iterable[str]
) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for code in sorted(set(graph) - set(plan.assignment)):
        ccg = graph.nodes[code]["ccg_code"]
        rows.append((ccg, "", code, "missing", "error", f"{_name(graph, code)} is not in the plan"))
    for code in sorted(set(duplicates)):
        ccg = graph.nodes[code]["ccg_code"] if code in graph else ""
        rows.append((ccg, "", code, "duplicated", "error", f"{code} is listed more than once"))
    for code in sorted(set(plan.assignment) - set(graph)):
        rows.append(("", plan.assignment[code] or "", code, "unknown", "error", f"{code} is no practice"))
    for code in plan.open_practices:
        if code in graph:
            ccg = graph.nodes[code]["ccg_code"]
            rows.append((ccg, "", code, "open", "warning", f"{_name(graph, code)} is in no PCN yet"))
    return rows


def _detached(graph: nx.Graph, pcn: str, parts: list[set[str]]) -> list[tuple[str, str, str]]:
    """Name each practice cut off from its group's largest piece, with the gap in km."""
    main = max(parts, key=lambda p: (sum(graph.nodes[c]["list_size"] for c in p), sorted(p)))
    rows = []
    for part in parts:
        if part is main:
            continue
        gap, a, b = min((_km(graph, a, b), a, b) for a in part for b in main)
        for code in sorted(part):
            rows.append(
                (
                    code,
                    f"{_name(graph, code)} is cut off from the rest of {pcn}: its piece is {gap:.1f} km "
                    f"from the nearest member ({_name(graph, a)} to {_name(graph, b)}) with other "
                    "practices between",
                    graph.nodes[code]["ccg_code"],
                )
            )
    return rows


def _group_findings(
    plan: Plan, graph: nx.Graph, table: pd.DataFrame, allow_cross: Mapping[str, str]
) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for pcn, members in plan.groups.items():
        inside = frozenset(m for m in members if m in graph)
        if not inside:
            continue
        home = {m: allow_cross.get(m, graph.nodes[m]["ccg_code"]) for m in inside}
        ccg = ",".join(sorted(set(home.values())))
        if len(set(home.values())) > 1:
            for code in sorted(inside):
                detail = f"{pcn} spans CCGs {ccg}; {_name(graph, code)} is in {home[code]}"
                rows.append((home[code], pcn, code, "ccg", "error", detail))
        sub = nx.Graph()
        sub.add_nodes_from(sorted(inside))  # in code order, so the findings do not vary from run to run
        sub.add_edges_from(
            (a, b, {"type": kind})
            for a, b, kind in graph.subgraph(inside).edges(data="type")
            if kind in WITHIN_CCG or a in allow_cross or b in allow_cross
        )
        parts = [set(p) for p in nx.connected_components(sub)]
        if len(parts) > 1:
            rows += [
                (c_ccg, pcn, code, "contiguity", "error", d)
                for code, d, c_ccg in _detached(graph, pcn, parts)
            ]
        crossings = sorted(
            (min(a, b), max(a, b)) for a, b, kind in sub.edges(data="type") if kind == "bridge"
        )
        for a, b in crossings:
            if b in nx.node_connected_component(nx.restricted_view(sub, [], [(a, b)]), a):
                continue
            detail = (
                f"{pcn} holds together only across a {graph.edges[a, b].get('length_km', 0):.1f} km bridge "
                f"({_name(graph, a)} to {_name(graph, b)}): water or another area lies between"
            )
            rows.append((ccg, pcn, "", "bridge", "warning", detail))
        if pcn in table.index and table.at[pcn, "status"] in ("below", "above"):
            severity = "error" if table.at[pcn, "status"] == "below" else "warning"
            total = int(table.at[pcn, "list_size"])
            detail = f"{pcn} has {total:,} patients in {len(inside)} practice(s): {table.at[pcn, 'verdict']}"
            rows.append((ccg, pcn, "", str(table.at[pcn, "status"]), severity, detail))
    return rows


def _enclosure_findings(areas: gpd.GeoSeries) -> list[tuple[str, str, str, str, str, str]]:
    """Warn where a group's area, holes filled, wholly holds another group's area."""
    import shapely

    geoms = areas.to_numpy()
    filled = np.array(
        [shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(g)]) for g in geoms],
        dtype=object,
    )
    tree = shapely.STRtree(geoms)
    rows = []
    for i, outer in enumerate(filled):
        for j in tree.query(outer, predicate="contains"):
            if i != j and not shapely.contains(geoms[i], geoms[j]):
                detail = f"{areas.index[i]}'s area encloses all of {areas.index[j]}'s"
                rows.append(("", str(areas.index[i]), "", "enclosed", "warning", detail))
    return rows


def plan_findings(
    plan: Plan,
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    rural: Iterable[str] = (),
    approved: Iterable[str] = (),
    allow_cross: Mapping[str, str] | None = None,
    duplicates: Iterable[str] = (),
    areas: gpd.GeoSeries | None = None,
) -> pd.DataFrame:
    """Return every rule a plan breaks or strains, one row per group or practice and rule.

    Errors: a practice ``missing`` from the plan, ``duplicated`` in it or ``unknown``; a
    group crossing a CCG line (``ccg``) unless ``allow_cross`` lets the practice join that
    CCG; a group not connected in the graph (``contiguity``: each detached practice named,
    with the gap in km); a group ``below`` the band that is not exempt. Warnings: a group
    ``above`` the band that is not exempt; ``open`` practices; a group that holds together
    only across a ``bridge``; a group whose area encloses another's (``enclosed``, when
    ``areas`` are given). Stranding needs the solver and is added by the partitioner.

    Parameters
    ----------
    plan, graph
        The plan to check and the adjacency graph.
    rules, rural, approved
        The band rule, rural practice codes and approved PCN ids (see :func:`group_table`).
    allow_cross
        Practice code to the CCG whose network it may join.
    duplicates
        Practice codes the plan's file listed more than once.
    areas
        Group areas by PCN id (e.g. ``footprint.plan.group_areas(...).geometry``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FINDING_COLUMNS`; ``severity`` is ``error`` or ``warning``.

    Examples
    --------
    >>> g = nx.Graph()
    >>> g.add_node("A", x=0, y=0, list_size=20_000, ccg_code="X", practice_name="A")
    >>> g.add_node("B", x=1000, y=0, list_size=15_000, ccg_code="X", practice_name="B")
    >>> plan_findings(Plan({"A": "p", "B": None}), g)[["group", "practice_code", "rule", "severity"]]
      group practice_code   rule severity
    0     p                below    error
    1                   B   open  warning
    """
    rules = rules or Rules()
    allow_cross = dict(allow_cross or {})
    table = group_table(plan, practices_from_graph(graph, rural=rural), rules=rules, approved=approved)
    rows = _coverage_findings(plan, graph, duplicates)
    rows += _group_findings(plan, graph, table, allow_cross)
    if areas is not None and len(areas) > 1:
        rows += _enclosure_findings(areas)
    frame = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    order = {"error": 0, "warning": 1}
    return frame.sort_values(
        ["severity", "ccg_code", "group", "practice_code"],
        key=lambda c: c.map(order) if c.name == "severity" else c,
    ).reset_index(drop=True)


#: What :func:`plan_metrics` reports of a plan, in order.
METRIC_COLUMNS = (
    "practices",
    "groups",
    "out_of_band",
    "exempt",
    "in_band_share",
    "deviation",
    "compactness_km",
    "split_sites",
    "bridges_used",
    "moved_from_current",
)


def plan_metrics(
    plan: Plan,
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    rural: Iterable[str] = (),
    current: Plan | None = None,
) -> dict[str, float]:
    """Return one plan's figures, the same for every plan compared (see :data:`METRIC_COLUMNS`).

    ``bridges_used`` counts bridges inside a group (both ends in it); ``moved_from_current``
    is the transfer distance from ``current`` (left out when it is not given).
    """
    score = score_plan(plan, graph, rules=rules, rural=rural)
    assignment = plan.assignment
    bridges_used = sum(
        1
        for a, b, kind in graph.edges(data="type")
        if kind == "bridge" and assignment.get(a) is not None and assignment.get(a) == assignment.get(b)
    )
    metrics: dict[str, float] = {
        "practices": len(plan),
        "groups": score.groups,
        "out_of_band": score.out_of_band,
        "exempt": score.exempt,
        "in_band_share": round(score.in_band_share, 5),
        "deviation": score.deviation,
        "compactness_km": round(score.compactness_km, 3),
        "split_sites": score.split_sites,
        "bridges_used": bridges_used,
    }
    if current is not None:
        metrics["moved_from_current"] = transfer_distance(current, plan)
    return metrics


def compare_plans(
    plans: Mapping[str, Plan],
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    rural: Iterable[str] = (),
    current: Plan | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the plans' figures side by side, and the transfer distance between every two.

    Returns
    -------
    metrics : pandas.DataFrame
        One column per plan (named as in ``plans``), one row per :data:`METRIC_COLUMNS`.
    distances : pandas.DataFrame
        Plans by plans: practices that must move to turn the row's plan into the column's.
    """
    metrics = pd.DataFrame(
        {name: plan_metrics(p, graph, rules=rules, rural=rural, current=current) for name, p in plans.items()}
    )
    names = list(plans)
    distances = pd.DataFrame(
        [[transfer_distance(plans[a], plans[b]) for b in names] for a in names], index=names, columns=names
    )
    return metrics, distances


def plan_differences(plans: Mapping[str, Plan]) -> pd.DataFrame:
    """Return the practices whose group differs between the plans, with their group in each.

    Each plan's groups are first aligned to the first plan's (:func:`footprint.plan.aligned_groups`),
    so a practice differs only where it truly changes company, not where ids are renamed.

    Returns
    -------
    pandas.DataFrame
        Indexed by practice code: one column per plan (its own group id) and ``aligned``
        (the first plan's group each plan's group continues, joined by ``|``).

    Examples
    --------
    >>> a = Plan({"A": "1", "B": "1", "C": "2"})
    >>> b = Plan({"A": "x", "B": "y", "C": "y"})
    >>> plan_differences({"a": a, "b": b}).index.tolist()
    ['B']
    """
    names = list(plans)
    aligned = aligned_groups(plans)
    differ = aligned[aligned["contested"] > 0]
    frame = pd.DataFrame(
        {n: [plans[n].assignment.get(c) for c in differ.index] for n in names},
        index=differ.index,
        dtype=object,
    )
    frame["aligned"] = ["|".join(str(v) for v in row) for row in differ[names].itertuples(index=False)]
    return frame


def agreed_pieces(plan: Plan, graph: nx.Graph) -> Plan:
    """Return the plan's groups as agreed groups, as stranding is judged (``check`` and ``edit``).

    A group in pieces (not connected by within-CCG edges) becomes its pieces: ``G`` when
    whole, else ``G (CCG, part k)``. Open practices stay open.

    Examples
    --------
    >>> g = nx.Graph()
    >>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    >>> nx.set_node_attributes(g, "X", "ccg_code")
    >>> agreed_pieces(Plan({"A": "p", "B": None, "C": "p"}), g).assignment
    {'A': 'p (X, part 1)', 'C': 'p (X, part 2)', 'B': None}
    """
    assignment: dict[str, str | None] = {}
    for pcn, members in plan.groups.items():
        sub = graph.subgraph(members)
        within = nx.Graph((a, b) for a, b, kind in sub.edges(data="type") if kind in WITHIN_CCG)
        within.add_nodes_from(members)
        parts = sorted(sorted(p) for p in nx.connected_components(within))
        for k, part in enumerate(parts):
            name = pcn if len(parts) == 1 else f"{pcn} ({graph.nodes[part[0]]['ccg_code']}, part {k + 1})"
            assignment.update(dict.fromkeys(part, name))
    assignment.update(dict.fromkeys(plan.open_practices))
    return Plan(assignment)
