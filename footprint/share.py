"""Clinical-director sharing: which neighbouring PCNs could share one director, how far, for what time.

Every PCN names an accountable clinical director (CD), funded at 0.25 WTE per 50,000
registered patients (:func:`footprint.evaluate.funded_cd_wte`). Neighbouring PCNs may share
one CD; the analyst weighs fewer, better-funded posts against distance and the number of
practices one person must know. This module

- lists the **candidates**: every pair of neighbouring PCNs (and, with ``cluster_size``, every
  connected cluster of up to that many PCNs) with combined patients and practices, the CD
  **base** (the member practice whose largest straight-line distance to the other members is
  least, or a named one), the largest and list-weighted mean base-to-member distance, funded
  WTE, sessions a week and pounds a year, and which limits it meets (:func:`share_candidates`);
- finds the **optimal arrangement**: fewest CD posts under the limits, then least
  list-weighted mean distance to the base, exactly: pairs by a maximum-weight matching
  (:func:`optimal_pairs`), clusters of up to ``cluster_size`` PCNs by the partition model;
  and says why each PCN left alone keeps its own CD;
- measures the **sensitivity** of the number of posts to the distance limit.

Distances are straight lines between practice sites (EPSG:27700 metres), like every distance
in footprint. Clusters of more than two PCNs are arranged by the partition model on the graph
of PCNs (:func:`footprint.partition.cluster_groups`, imported only when asked for), proven
optimal per component. Nothing else here imports OR-Tools, and nothing imports render.

Examples
--------
>>> import networkx as nx
>>> from footprint.plan import Plan
>>> g = nx.Graph()
>>> for code, x, size in [("A", 0, 20_000), ("B", 3_000, 20_000), ("C", 7_000, 20_000)]:
...     g.add_node(code, x=float(x), y=0.0, list_size=size, ccg_code="X", practice_name=code)
>>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
>>> result = share_plan(Plan({"A": "p", "B": "q", "C": "r"}), g, options=ShareOptions(max_km=5))
>>> result.cd_posts, sorted(result.keep_own)
(2, ['r'])
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from footprint._io import read_text_csv
from footprint.errors import DataError
from footprint.evaluate import funded_cd_wte, group_table, practices_from_graph
from footprint.graph import WITHIN_CCG
from footprint.plan import Plan

__all__ = [
    "ARRANGEMENT_COLUMNS",
    "PAIR_COLUMNS",
    "SESSIONS_PER_WTE",
    "CdRate",
    "ShareOptions",
    "ShareResult",
    "cluster_reach",
    "optimal_pairs",
    "pcn_graph",
    "rate_for_year",
    "read_rates",
    "sensitivity_svg",
    "share_candidates",
    "share_plan",
    "share_report_html",
]

logger = logging.getLogger(__name__)

#: Sessions a week in one WTE: a session is half a day (4 hours), so 0.2 WTE is one day,
#: two sessions (shared/POLICY.md: 0.25 WTE per 50,000 patients is "about one day per 40,000";
#: "two sessions a week (8 hours)").
SESSIONS_PER_WTE = 10
#: The shipped table of CD payment rates by financial year (sources and uncertain values marked).
RATES_FILE = "data/cd_rates.csv"
#: Columns of ``pairs.csv``, in order.
PAIR_COLUMNS = (
    "pcn_a",
    "pcn_b",
    "patients",
    "practices",
    "wte",
    "sessions",
    "gbp",
    "base",
    "max_km",
    "mean_km",
    "meets_limits",
    "reason",
)
#: Columns of ``arrangement.csv``, in order (one row per PCN; the figures are its cluster's).
ARRANGEMENT_COLUMNS = (
    "cluster",
    "pcn_id",
    "pcn_name",
    "base",
    "max_km",
    "mean_km",
    "patients",
    "practices",
    "wte",
    "reason",
)
#: Distance limits of the sensitivity table, km.
SENSITIVITY_KM = (5.0, 7.5, 10.0, 12.5, 15.0, 17.5, 20.0, 22.5, 25.0, 27.5, 30.0)
#: Columns of the sensitivity table: ``shared`` counts shared pairs, or clusters with
#: ``cluster_size`` above 2; ``proven`` says whether that limit's arrangement is proven optimal.
SENSITIVITY_COLUMNS = ("max_km", "cd_posts", "shared", "mean_km", "proven")
#: Largest cluster size whose candidates are listed (the number of clusters grows fast).
MAX_CLUSTER_SIZE = 6
_YEAR = re.compile(r"^\d{4}/\d{2}$")


@dataclass(frozen=True)
class ShareOptions:
    """The limits and choices of a CD-sharing analysis.

    Parameters
    ----------
    max_km
        Largest straight-line distance from a cluster's base to any member practice, km
        (``None``: no limit).
    max_patients
        Largest combined list size of a cluster (``None``: no limit).
    max_practices
        Largest number of practices in a cluster (``None``: no limit).
    cluster_size
        Largest number of PCNs sharing one CD (2: pairs).
    bases
        Practice codes named as CD bases: a cluster holding one of them is based there.
    across_ccgs
        Also count PCNs joined only across a CCG boundary (``cross_ccg`` edges) as neighbours.
    year
        Financial year of the payment rate, ``YYYY/YY``.
    sensitivity_km
        The distance limits at which the sensitivity table counts CD posts.

    Raises
    ------
    DataError
        If a limit is zero or negative, ``cluster_size`` is outside 2 to
        :data:`MAX_CLUSTER_SIZE`, or ``year`` is not written ``YYYY/YY``.

    Examples
    --------
    >>> ShareOptions(max_km=12).max_km
    12.0
    >>> ShareOptions(max_km=0)
    Traceback (most recent call last):
    ...
    footprint.errors.DataError: max_km 0 km must be a positive distance, e.g. 10
    """

    max_km: float | None = 10.0
    max_patients: int | None = None
    max_practices: int | None = None
    cluster_size: int = 2
    bases: tuple[str, ...] = ()
    across_ccgs: bool = False
    year: str = "2021/22"
    sensitivity_km: tuple[float, ...] = SENSITIVITY_KM

    def __post_init__(self) -> None:
        if self.max_km is not None:
            if not self.max_km > 0:
                msg = f"max_km {self.max_km:g} km must be a positive distance, e.g. 10"
                raise DataError(msg)
            object.__setattr__(self, "max_km", float(self.max_km))
        for name in ("max_patients", "max_practices"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                msg = f"{name} {value} must be a positive whole number"
                raise DataError(msg)
        if not 2 <= self.cluster_size <= MAX_CLUSTER_SIZE:
            msg = f"cluster_size {self.cluster_size} must lie between 2 (pairs) and {MAX_CLUSTER_SIZE}"
            raise DataError(msg)
        if not _YEAR.match(self.year):
            msg = f"year {self.year!r} is not a financial year: write it YYYY/YY, e.g. 2021/22"
            raise DataError(msg)
        if any(not d > 0 for d in self.sensitivity_km):
            msg = f"sensitivity distances {self.sensitivity_km} must all be positive km"
            raise DataError(msg)
        object.__setattr__(self, "bases", tuple(str(c).strip().upper() for c in self.bases))

    def limits_text(self) -> str:
        """Return the limits in words, e.g. ``'base to member <= 10 km'``."""
        parts = []
        if self.max_km is not None:
            parts.append(f"base to member <= {self.max_km:g} km")
        if self.max_patients is not None:
            parts.append(f"patients <= {self.max_patients:,}")
        if self.max_practices is not None:
            parts.append(f"practices <= {self.max_practices}")
        return "; ".join(parts) or "no limits"


# Payment rates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CdRate:
    """The CD payment of one financial year.

    ``gbp_per_patient`` is ``None`` in years where the CD payment was merged into core PCN
    funding (``merged_into_core``); then only funded WTE is reported.
    """

    year: str
    gbp_per_patient: float | None
    merged_into_core: bool
    uncertain: bool
    period: str = ""
    source: str = ""
    note: str = ""

    def gbp(self, patients: float) -> float | None:
        """Return the pounds a year for ``patients``, or ``None`` when the payment is merged."""
        return None if self.gbp_per_patient is None else round(patients * self.gbp_per_patient, 2)

    def describe(self) -> str:
        """Return the rate in words, with its caveats."""
        if self.merged_into_core:
            return f"{self.year}: CD payment merged into core PCN funding; funded time reported as WTE only"
        flag = " (uncertain)" if self.uncertain else ""
        return f"{self.year}: £{self.gbp_per_patient:.4f} per registered patient{flag}, {self.period}"


def _flag(value: str) -> bool:
    return value.strip().lower() in {"true", "yes", "1", "y"}


def read_rates(path: str | os.PathLike[str] | None = None) -> dict[str, CdRate]:
    """Read a CD payment rates file (default: the shipped ``footprint/data/cd_rates.csv``).

    Parameters
    ----------
    path
        A CSV with columns ``year`` (``YYYY/YY``) and ``gbp_per_patient`` (blank when the
        payment was merged into core funding), and optionally ``merged_into_core`` and
        ``uncertain`` (true/false), ``period``, ``source`` and ``note``.

    Returns
    -------
    dict
        Year to :class:`CdRate`.

    Raises
    ------
    DataError
        If the file is missing, lacks ``year`` or ``gbp_per_patient``, or holds a rate that
        is not a non-negative number.

    Examples
    --------
    >>> read_rates()["2020/21"].gbp_per_patient
    0.722
    """
    if path is None:
        with resources.as_file(resources.files("footprint").joinpath(RATES_FILE)) as shipped:
            return read_rates(shipped)
    frame = read_text_csv(path, what="rates file", expect="a CSV with columns year,gbp_per_patient")
    missing = [c for c in ("year", "gbp_per_patient") if c not in frame.columns]
    if missing:
        msg = f"rates file {path} lacks column(s) {', '.join(missing)}; it needs year and gbp_per_patient"
        raise DataError(msg)
    frame = frame.reindex(
        columns=["year", "gbp_per_patient", "merged_into_core", "uncertain", "period", "source", "note"],
        fill_value="",
    )
    rates = {}
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        text = row.gbp_per_patient
        try:
            value = float(text) if text else None
        except ValueError:
            value = -1.0
        if value is not None and not value >= 0:
            msg = f"rates file {path} line {line}: gbp_per_patient {text!r} is not a non-negative number"
            raise DataError(msg)
        rates[row.year] = CdRate(
            year=row.year,
            gbp_per_patient=value,
            merged_into_core=_flag(row.merged_into_core) or value is None,
            uncertain=_flag(row.uncertain),
            period=row.period,
            source=row.source,
            note=row.note,
        )
    return rates


def rate_for_year(year: str, rates: Mapping[str, CdRate] | None = None) -> CdRate:
    """Return the CD payment rate of ``year`` from ``rates`` (default: the shipped file).

    Raises
    ------
    DataError
        If ``year`` is not in ``rates``; the message lists the known years.

    Examples
    --------
    >>> rate_for_year("2024/25").merged_into_core
    True
    >>> rate_for_year("2031/32")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    footprint.errors.DataError: no CD payment rate for year 2031/32: known years are 2019/20, ...
    """
    rates = read_rates() if rates is None else rates
    if year not in rates:
        msg = (
            f"no CD payment rate for year {year}: known years are {', '.join(sorted(rates))}; "
            f"give one of them, or a rates file with a row for {year}"
        )
        raise DataError(msg)
    return rates[year]


# PCNs and their neighbours --------------------------------------------------------------------


def pcn_graph(plan: Plan, graph: nx.Graph, *, across_ccgs: bool = False) -> nx.Graph:
    """Return the graph of PCNs: two are neighbours when any of their practices are.

    Parameters
    ----------
    plan
        Any plan; open practices and practices missing from ``graph`` are left out.
    graph
        The graph of neighbouring practices (:func:`footprint.graph.graph_from_practices`).
    across_ccgs
        Also join PCNs whose practices meet only across a CCG boundary (``cross_ccg``).

    Returns
    -------
    networkx.Graph
        Nodes are PCN ids with ``members`` (tuple of practice codes), ``list_size``,
        ``practices`` and ``ccg_code`` (the members' CCGs, comma-separated), from
        :func:`footprint.evaluate.group_table`.
    """
    table = group_table(plan, practices_from_graph(graph))
    pcns = nx.Graph()
    for pcn, row in table.iterrows():
        pcns.add_node(
            pcn,
            members=row["members"],
            list_size=int(row["list_size"]),
            practices=int(row["practices"]),
            ccg_code=row["ccg_code"],
        )
    kinds = WITHIN_CCG | {"cross_ccg"} if across_ccgs else WITHIN_CCG
    of = plan.assignment
    for a, b, kind in graph.edges(data="type"):
        pa, pb = of.get(a), of.get(b)
        if kind in kinds and pa is not None and pb is not None and pa != pb:
            pcns.add_edge(*sorted((pa, pb)))
    return pcns


def _connected_sets(pcns: nx.Graph, size: int) -> Iterator[tuple[str, ...]]:
    """Yield every connected set of 2 to ``size`` nodes once, as a sorted tuple (ESU, Wernicke 2006)."""
    order = {n: i for i, n in enumerate(sorted(pcns))}

    def extend(sub: frozenset[str], around: frozenset[str], ext: set[str], root: str) -> Iterator[frozenset]:
        if len(sub) >= 2:
            yield sub
        if len(sub) == size:
            return
        ext = set(ext)
        while ext:
            w = min(ext, key=order.__getitem__)
            ext.discard(w)
            fresh = {u for u in pcns[w] if order[u] > order[root] and u not in sub and u not in around}
            yield from extend(sub | {w}, around | set(pcns[w]), ext | fresh, root)

    for v in sorted(pcns):
        ext = {u for u in pcns[v] if order[u] > order[v]}
        for found in extend(frozenset([v]), frozenset(pcns[v]) | {v}, ext, v):
            yield tuple(sorted(found))


# Figures of one cluster ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Sites:
    """Practice positions and list sizes as arrays, with each PCN's rows."""

    codes: np.ndarray
    xy: np.ndarray
    size: np.ndarray
    rows: dict[str, np.ndarray]

    @classmethod
    def from_graph(cls, pcns: nx.Graph, graph: nx.Graph) -> _Sites:
        codes = sorted({c for _, members in pcns.nodes(data="members") for c in members})
        row = {c: i for i, c in enumerate(codes)}
        xy = np.array([[graph.nodes[c]["x"], graph.nodes[c]["y"]] for c in codes], dtype=float)
        size = np.array([graph.nodes[c]["list_size"] for c in codes], dtype=float)
        rows = {p: np.array([row[c] for c in m]) for p, m in pcns.nodes(data="members")}
        return cls(np.array(codes, dtype=object), xy.reshape(-1, 2), size, rows)


def _figures(cluster: Sequence[str], sites: _Sites, bases: frozenset[str]) -> dict[str, Any]:
    """Return a cluster's base, distances and totals.

    The base is a named base among the members if any (the best of them), else the member
    whose largest distance to the others is least; ties go to the least list-weighted mean
    distance, then the smaller code. ``cost`` is the patient-metres from the base, rounded
    to whole patient-metres: the quantity the arrangement minimises.
    """
    rows = np.concatenate([sites.rows[p] for p in cluster])
    xy, w = sites.xy[rows], sites.size[rows]
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    largest, weighted = dist.max(axis=1), dist @ w
    codes = sites.codes[rows]
    named = np.isin(codes, list(bases)) if bases else np.zeros(len(rows), dtype=bool)
    eligible = np.flatnonzero(named) if named.any() else np.arange(len(rows))
    pick = eligible[np.lexsort((codes[eligible], weighted[eligible], largest[eligible]))[0]]
    patients = int(w.sum())
    return {
        "base": str(codes[pick]),
        "max_km": float(largest[pick]) / 1000,
        "mean_km": float(weighted[pick]) / patients / 1000,
        "cost": round(float(weighted[pick])),
        "patients": patients,
        "practices": len(rows),
    }


def _limit_breaches(fig: Mapping[str, Any], options: ShareOptions) -> list[str]:
    """Return the limits a cluster breaks, in words (empty when it meets them all)."""
    broken = []
    if options.max_km is not None and fig["max_km"] > options.max_km + 1e-9:
        broken.append(f"base to member {fig['max_km']:.1f} km > {options.max_km:g} km")
    if options.max_patients is not None and fig["patients"] > options.max_patients:
        broken.append(f"{fig['patients']:,} patients > {options.max_patients:,}")
    if options.max_practices is not None and fig["practices"] > options.max_practices:
        broken.append(f"{fig['practices']} practices > {options.max_practices}")
    return broken


def _funding(patients: int, rate: CdRate) -> dict[str, Any]:
    wte = funded_cd_wte(patients)
    return {"wte": round(wte, 4), "sessions": round(wte * SESSIONS_PER_WTE, 2), "gbp": rate.gbp(patients)}


def _check_bases(bases: Sequence[str], plan: Plan, pcns: nx.Graph) -> None:
    in_pcn = {c for _, members in pcns.nodes(data="members") for c in members}
    stray = [c for c in bases if c not in in_pcn]
    if stray:
        why = ", ".join(
            f"{c} ({'open in the plan' if c in plan.assignment else 'not a practice of the plan'})"
            for c in stray
        )
        msg = f"base practice(s) {why} are in no PCN: name practices that belong to a PCN of the plan"
        raise DataError(msg)


def share_candidates(
    plan: Plan,
    graph: nx.Graph,
    *,
    options: ShareOptions | None = None,
    rate: CdRate | None = None,
) -> pd.DataFrame:
    """Return every pair (and cluster up to ``options.cluster_size``) of neighbouring PCNs.

    Parameters
    ----------
    plan
        Any plan (the current PCNs or a proposed one).
    graph
        The graph of neighbouring practices.
    options
        Limits and choices (default :class:`ShareOptions`).
    rate
        The year's payment rate (default: ``options.year`` from the shipped rates file).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, pairs first: ``pcns`` (tuple of PCN ids), ``size`` (PCNs),
        ``pcn_a``, ``pcn_b`` (the first two), ``patients``, ``practices``, ``wte``,
        ``sessions``, ``gbp`` (``None`` when the year's payment is merged into core funding),
        ``base``, ``max_km``, ``mean_km``, ``cost`` (patient-metres from the base),
        ``meets_limits`` and ``reason`` (the limits broken, ``""`` when met).

    Raises
    ------
    DataError
        If a named base practice is in no PCN of the plan.
    """
    options = options or ShareOptions()
    rate = rate or rate_for_year(options.year)
    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    _check_bases(options.bases, plan, pcns)
    sites = _Sites.from_graph(pcns, graph)
    bases = frozenset(options.bases)
    clusters = [tuple(sorted(e)) for e in pcns.edges]
    if options.cluster_size > 2:
        clusters += [c for c in _connected_sets(pcns, options.cluster_size) if len(c) > 2]
    records = []
    for cluster in clusters:
        fig = _figures(cluster, sites, bases)
        broken = _limit_breaches(fig, options)
        records.append(
            {
                "pcns": cluster,
                "size": len(cluster),
                "pcn_a": cluster[0],
                "pcn_b": cluster[1],
                **fig,
                **_funding(fig["patients"], rate),
                "meets_limits": not broken,
                "reason": "; ".join(broken),
            }
        )
    columns = ["pcns", "size", *PAIR_COLUMNS, "cost"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    logger.info(
        "%d PCNs, %d candidate clusters (%d meet the limits)",
        len(pcns),
        len(frame),
        frame["meets_limits"].sum(),
    )
    return frame.sort_values(["size", "pcns"], kind="stable").reset_index(drop=True)


def _singles(pcns: nx.Graph, sites: _Sites, options: ShareOptions, rate: CdRate) -> pd.DataFrame:
    """Return each PCN keeping its own CD: its base, distances, totals and funding."""
    bases = frozenset(options.bases)
    records = []
    for pcn in sorted(pcns):
        fig = _figures((pcn,), sites, bases)
        records.append({"pcn_id": pcn, **fig, **_funding(fig["patients"], rate)})
    columns = [
        "pcn_id",
        "base",
        "max_km",
        "mean_km",
        "cost",
        "patients",
        "practices",
        "wte",
        "sessions",
        "gbp",
    ]
    return pd.DataFrame.from_records(records, columns=columns).set_index("pcn_id")


# The optimal arrangement of pairs -----------------------------------------------------------


def optimal_pairs(
    pcns: Sequence[str], pairs: pd.DataFrame, single_cost: Mapping[str, int]
) -> list[tuple[str, str]]:
    """Return the pairs sharing a CD in an optimal arrangement: fewest posts, then least distance.

    Parameters
    ----------
    pcns
        Every PCN id.
    pairs
        The allowed pairs: columns ``pcn_a``, ``pcn_b`` and ``cost`` (whole patient-metres
        from the pair's base to its practices).
    single_cost
        Each PCN's patient-metres from its own base, when it keeps its own CD.

    Returns
    -------
    list of tuple
        The sharing pairs, each sorted, in sorted order.

    Notes
    -----
    An arrangement is a matching ``M`` of the graph ``H`` whose edges are the allowed pairs:
    matched PCNs share a CD and the rest keep their own. It has ``n - |M|`` CD posts and
    total cost ``T(M) = sum(single_cost) - sum_{(a,b) in M} d(a,b)``, where
    ``d(a,b) = single_cost[a] + single_cost[b] - cost(a,b)``; total patients are fixed, so
    least ``T`` is least list-weighted mean distance to the base.

    Each edge gets the integer weight ``w(a,b) = C + d(a,b)`` with ``C = 1 + max(0, -min d)``,
    so every weight is positive. :func:`networkx.max_weight_matching` with
    ``maxcardinality=True`` returns, among the matchings of maximum cardinality ``nu``, one of
    maximum weight. (1) Maximum cardinality means fewest posts, ``n - nu``. (2) Every matching
    of that cardinality weighs ``nu * C + sum d = nu * C + sum(single_cost) - T(M)``, so the
    heaviest is the one of least ``T``. The blossom algorithm is exact, and with integer
    weights it runs in integer arithmetic, so the result is optimal for costs in whole
    patient-metres, not approximately so. Components of ``H`` are independent and solved
    one at a time. ``tests/test_share.py`` checks this against brute force.

    Examples
    --------
    >>> pairs = pd.DataFrame({"pcn_a": ["p", "q"], "pcn_b": ["q", "r"], "cost": [10, 4]})
    >>> optimal_pairs(["p", "q", "r"], pairs, {"p": 0, "q": 0, "r": 0})
    [('q', 'r')]
    """
    if pairs.empty:
        return []
    gain = {
        (a, b): single_cost[a] + single_cost[b] - int(c)
        for a, b, c in zip(pairs["pcn_a"], pairs["pcn_b"], pairs["cost"], strict=True)
    }
    shift = 1 + max(0, -min(gain.values()))
    h = nx.Graph()
    h.add_nodes_from(pcns)
    h.add_weighted_edges_from((a, b, shift + d) for (a, b), d in sorted(gain.items()))
    chosen: list[tuple[str, str]] = []
    for component in nx.connected_components(h):
        if len(component) < 2:
            continue
        matching = nx.max_weight_matching(h.subgraph(component), maxcardinality=True, weight="weight")
        chosen.extend(tuple(sorted(e)) for e in matching)  # type: ignore[misc]
    return sorted(chosen)


def _keep_own_reason(
    pcn: str,
    pcns: nx.Graph,
    by_pair: Mapping[tuple[str, str], pd.Series],
    partners: Mapping[str, set[str]] | None = None,
) -> str:
    """Say why ``pcn`` keeps its own CD in the optimal arrangement.

    ``partners`` maps a PCN to the others of the allowed clusters holding it (clusters of
    more than two PCNs); without it, the allowed pairs are the partners.
    """
    neighbours = sorted(pcns[pcn])
    if not neighbours:
        return "no neighbouring PCN"
    rows = {n: by_pair[tuple(sorted((pcn, n)))] for n in neighbours}  # type: ignore[index]
    if partners is None:
        allowed = [n for n, row in rows.items() if row["meets_limits"]]
    else:
        allowed = sorted(partners.get(pcn, set()))
    if allowed:
        return (
            f"its possible partner(s) {', '.join(allowed)} share with others in the optimum: "
            "no arrangement has fewer CD posts with it shared"
        )
    broken = "; ".join(f"{n}: {row['reason']}" for n, row in rows.items())
    if partners is not None:
        return f"every cluster holding it breaks a limit (with each neighbouring PCN: {broken})"
    return f"every neighbouring PCN breaks a limit ({broken})"


def _partners(candidates: pd.DataFrame) -> dict[str, set[str]]:
    """Return each PCN's partners in the candidate clusters that meet the limits."""
    partners: dict[str, set[str]] = {}
    for cluster in candidates.loc[candidates["meets_limits"], "pcns"]:
        for p in cluster:
            partners.setdefault(p, set()).update(set(cluster) - {p})
    return partners


# Arrangement, sensitivity and the result -----------------------------------------------------


def _arrangement(
    shared: Mapping[tuple[str, ...], Mapping[str, Any]], singles: pd.DataFrame, reasons: Mapping[str, str]
) -> pd.DataFrame:
    """Return one row per PCN with its cluster's figures (:data:`ARRANGEMENT_COLUMNS` and more)."""
    in_shared = {p for cluster in shared for p in cluster}
    groups = sorted([*shared, *((p,) for p in singles.index if p not in in_shared)])
    records = []
    for k, cluster in enumerate(groups, start=1):
        row = shared[cluster] if cluster in shared else singles.loc[cluster[0]]
        figures = {c: row[c] for c in ("base", "max_km", "mean_km", "patients", "practices", "wte")}
        for pcn in cluster:
            records.append(
                {
                    "cluster": f"CD{k:04d}",
                    "pcn_id": pcn,
                    **figures,
                    "sessions": row["sessions"],
                    "gbp": row["gbp"],
                    "cost": int(row["cost"]),
                    "pcns": len(cluster),
                    "reason": "" if len(cluster) > 1 else reasons.get(pcn, ""),
                }
            )
    return pd.DataFrame.from_records(records)


def _total_cost(
    chosen: Sequence[tuple[str, str]], pair_cost: Mapping[tuple, int], single_cost: Mapping[str, int]
) -> int:
    """Return the patient-metres from the bases of an arrangement of pairs and singles."""
    gain = sum(single_cost[a] + single_cost[b] - pair_cost[a, b] for a, b in chosen)
    return sum(single_cost.values()) - gain


def _sensitivity(
    pcns: nx.Graph, allowed: pd.DataFrame, singles: pd.DataFrame, distances: Sequence[float]
) -> pd.DataFrame:
    """Return the fewest CD posts in pairs (and the mean distance) at each distance limit in ``distances``."""
    cost = singles["cost"].to_dict()
    pair_cost = {(a, b): int(c) for a, b, c in allowed[["pcn_a", "pcn_b", "cost"]].itertuples(index=False)}
    rows = []
    for limit in sorted(distances):
        chosen = optimal_pairs(list(pcns), allowed[allowed["max_km"] <= limit + 1e-9], cost)
        rows.append(
            _sensitivity_row(
                limit,
                len(pcns) - len(chosen),
                len(chosen),
                _total_cost(chosen, pair_cost, cost),
                singles,
                True,
            )
        )
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def _cluster_sensitivity(
    pcns: nx.Graph,
    graph: nx.Graph,
    options: ShareOptions,
    singles: pd.DataFrame,
    known: tuple[dict[tuple[str, ...], str], dict[str, Any]],
    progress: Callable[[str], None] | None,
) -> pd.DataFrame:
    """Return the fewest CD posts in clusters (the partition model) at each distance limit.

    ``known`` is the arrangement already solved at ``options.max_km``, reused at that limit;
    ``progress`` is called with each limit solved.
    """
    sites = _Sites.from_graph(pcns, graph)
    cost = singles["cost"].to_dict()
    rows = []
    for limit in sorted(options.sensitivity_km):
        if options.max_km is not None and abs(limit - options.max_km) < 1e-9:
            clusters, status = known
        else:
            clusters, status = _clusters_from_model(pcns, graph, replace(options, max_km=limit), singles)
        in_shared = {p for cluster in clusters for p in cluster}
        total = sum(cost[p] for p in pcns if p not in in_shared) + sum(
            _figures(cluster, sites, frozenset({base}))["cost"] for cluster, base in clusters.items()
        )
        proven = all(v["status"] == "OPTIMAL" for v in status.values())
        posts = len(pcns) - len(in_shared) + len(clusters)
        rows.append(_sensitivity_row(limit, posts, len(clusters), total, singles, proven))
        if progress is not None:
            progress(f"{limit:g} km")
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def _sensitivity_row(
    limit: float, posts: int, shared: int, cost: int, singles: pd.DataFrame, proven: bool
) -> dict[str, Any]:
    patients = int(singles["patients"].sum())
    return {
        "max_km": float(limit),
        "cd_posts": posts,
        "shared": shared,
        "mean_km": round(cost / patients / 1000, 3) if patients else 0.0,
        "proven": proven,
    }


def cluster_reach(
    pcns: nx.Graph, graph: nx.Graph, *, max_km: float | None
) -> dict[tuple[str, str], tuple[float, int]]:
    """Return, for a base practice and a PCN it could serve, the largest km and patient-metres.

    The data the partition model needs to arrange clusters of PCNs: a cluster based at
    practice ``b`` may hold PCN ``q`` only when ``(b, q)`` is a key (every practice of ``q``
    lies within ``max_km`` of ``b``); its cost is the sum of the values' patient-metres.

    Parameters
    ----------
    pcns
        The graph of PCNs (:func:`pcn_graph`); only PCNs of one connected component pair up.
    graph
        The graph of neighbouring practices (node ``x``, ``y``, ``list_size``).
    max_km
        The distance limit (``None``: every pair in a component).

    Returns
    -------
    dict
        ``(base practice code, pcn id) -> (largest km, whole patient-metres)``.
    """
    sites = _Sites.from_graph(pcns, graph)
    reach: dict[tuple[str, str], tuple[float, int]] = {}
    limit = np.inf if max_km is None else max_km * 1000 + 1e-6
    for component in nx.connected_components(pcns):
        for p in sorted(component):
            for b in sites.rows[p]:
                for q in sorted(component):
                    rows = sites.rows[q]
                    dist = np.hypot(*(sites.xy[rows] - sites.xy[b]).T)
                    if dist.max() <= limit:
                        reach[str(sites.codes[b]), q] = (
                            float(dist.max()) / 1000,
                            round(float(dist @ sites.size[rows])),
                        )
    return reach


def _clusters_from_model(
    pcns: nx.Graph, graph: nx.Graph, options: ShareOptions, singles: pd.DataFrame
) -> tuple[dict[tuple[str, ...], str], dict[str, Any]]:
    """Return the optimal clusters (members to base) from the partition model, and its status.

    A PCN alone keeps its own base and patient-metres (``singles``), whatever the limits.
    """
    from footprint.partition import cluster_groups  # OR-Tools only when clusters are asked for

    model_graph = pcns.copy()
    named = set(options.bases)
    for p, members in pcns.nodes(data="members"):
        model_graph.nodes[p]["bases"] = tuple(m for m in members if m in named) or tuple(members)
        model_graph.nodes[p]["alone_base"] = singles.loc[p, "base"]
        model_graph.nodes[p]["alone_cost"] = int(singles.loc[p, "cost"])
    plan = cluster_groups(
        model_graph,
        max_pcns=options.cluster_size,
        max_patients=options.max_patients,
        max_practices=options.max_practices,
        reach=cluster_reach(pcns, graph, max_km=options.max_km),
    )
    base_of = plan.info["base"]
    clusters = {tuple(sorted(m)): base_of[c] for c, m in plan.groups.items() if len(m) > 1}
    return clusters, plan.info["status"]


@dataclass(frozen=True)
class ShareResult:
    """What :func:`share_plan` finds: candidates, the optimal arrangement and its sensitivity.

    Attributes
    ----------
    options, rate
        The options and the year's payment rate used.
    candidates
        :func:`share_candidates`' table.
    singles
        Each PCN keeping its own CD: base, distances, totals, funding (indexed by PCN id).
    arrangement
        One row per PCN: its cluster (``CD0001`` ...) and the cluster's base, ``max_km``,
        ``mean_km``, ``patients``, ``practices``, ``wte``, ``sessions``, ``gbp``, ``cost``,
        ``pcns`` (PCNs in the cluster) and ``reason`` (why a PCN keeps its own CD).
    keep_own
        PCN id to why it keeps its own CD.
    sensitivity
        :data:`SENSITIVITY_COLUMNS` at each distance limit: the arrangement (pairs, or
        clusters of up to ``cluster_size`` by the partition model) re-solved at each.
    names
        PCN id to name (where known).
    notes
        Caveats to report (a merged payment year, an uncertain rate).
    status
        With clusters of more than two PCNs: the partition model's status per component
        (``OPTIMAL`` when both stages are proven), as in ``cluster_groups``.
    """

    options: ShareOptions
    rate: CdRate
    candidates: pd.DataFrame
    singles: pd.DataFrame
    arrangement: pd.DataFrame
    keep_own: dict[str, str]
    sensitivity: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        """Whether the arrangement is proven optimal (pairs always are; clusters per component)."""
        return all(v["status"] == "OPTIMAL" for v in self.status.values())

    @property
    def cd_posts(self) -> int:
        """CD posts in the optimal arrangement (one per cluster)."""
        return int(self.arrangement["cluster"].nunique())

    @property
    def mean_km(self) -> float:
        """List-weighted mean distance from each practice to its CD base in the arrangement, km."""
        patients = self.singles["patients"].sum()
        cost = self.arrangement.drop_duplicates("cluster")["cost"].sum()
        return float(cost / patients / 1000) if patients else 0.0

    def pairs_table(self) -> pd.DataFrame:
        """Return the candidate pairs with the columns of ``pairs.csv`` (:data:`PAIR_COLUMNS`)."""
        pairs = self.candidates[self.candidates["size"] == 2]
        return pairs.loc[:, list(PAIR_COLUMNS)].round({"max_km": 3, "mean_km": 3}).reset_index(drop=True)

    def clusters_table(self) -> pd.DataFrame:
        """Return the candidate clusters of more than two PCNs (``pcns`` joined by spaces)."""
        clusters = self.candidates[self.candidates["size"] > 2].copy()
        clusters["pcns"] = clusters["pcns"].map(" ".join)
        columns = ["pcns", *PAIR_COLUMNS[2:]]
        return clusters.loc[:, columns].round({"max_km": 3, "mean_km": 3}).reset_index(drop=True)

    def arrangement_table(self) -> pd.DataFrame:
        """Return the arrangement with the columns of ``arrangement.csv`` (:data:`ARRANGEMENT_COLUMNS`)."""
        table = self.arrangement.assign(
            pcn_name=self.arrangement["pcn_id"].map(lambda p: self.names.get(p, ""))
        )
        return table.loc[:, list(ARRANGEMENT_COLUMNS)].round({"max_km": 3, "mean_km": 3})

    def _method(self) -> str:
        if self.options.cluster_size == 2:
            return "pairs: maximum-weight matching of largest cardinality (networkx), proven optimal"
        proven = sum(v["status"] == "OPTIMAL" for v in self.status.values())
        return (
            f"clusters of up to {self.options.cluster_size} PCNs: the partition model (CP-SAT) on the graph "
            "of PCNs, fewest posts then least patient-metres to the base; proven optimal in "
            f"{proven:,} of {len(self.status):,} components"
        )

    def summary(self) -> dict[str, Any]:
        """Return plain data for ``summary.json``: options, rate, counts, arrangement, sensitivity."""
        pairs = self.candidates[self.candidates["size"] == 2]
        singles = self.singles
        posts = self.cd_posts
        gbp = self.rate.gbp(int(singles["patients"].sum()))
        return {
            "options": {**asdict(self.options), "limits": self.options.limits_text()},
            "rate": asdict(self.rate),
            "pcns": len(singles),
            "practices": int(singles["practices"].sum()),
            "patients": int(singles["patients"].sum()),
            "funded_wte": round(float(singles["wte"].sum()), 3),
            "gbp_a_year": gbp,
            "candidates": {
                "pairs": len(pairs),
                "pairs_meeting_limits": int(pairs["meets_limits"].sum()),
                "clusters_over_two": int((self.candidates["size"] > 2).sum()),
                "clusters_over_two_meeting_limits": int(
                    self.candidates.loc[self.candidates["size"] > 2, "meets_limits"].sum()
                ),
            },
            "arrangement": {
                "method": self._method(),
                "proven": self.proven,
                "cd_posts_now": len(singles),
                "cd_posts": posts,
                "shared_clusters": int((self.arrangement.drop_duplicates("cluster")["pcns"] > 1).sum()),
                "keep_own": len(self.keep_own),
                "mean_km_to_base": round(self.mean_km, 3),
                "mean_km_own_bases": round(float(singles["cost"].sum() / singles["patients"].sum() / 1000), 3)
                if len(singles)
                else 0.0,
                "wte_per_post": round(float(singles["wte"].sum()) / posts, 4) if posts else 0.0,
            },
            "keep_own": dict(sorted(self.keep_own.items())),
            "sensitivity": self.sensitivity.to_dict(orient="records"),
            "notes": list(self.notes),
        }


def base_links(result: ShareResult, plan: Plan, graph: nx.Graph) -> pd.DataFrame:
    """Return a line per member practice of each shared cluster: from its CD base, with the distance.

    For maps of the arrangement: the clusters of more than one PCN in ``result.arrangement``,
    each member practice (of every PCN of the cluster) other than the base.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster``, ``pcns`` (the cluster's PCN ids joined by spaces), ``base``,
        ``practice_code``, ``pcn_id``, ``km`` (straight line from the base), ``base_x``,
        ``base_y``, ``x``, ``y`` (EPSG:27700 metres), in cluster then practice order.
    """
    shared = result.arrangement[result.arrangement["pcns"] > 1]
    groups = plan.groups
    records = []
    for cluster, rows in shared.groupby("cluster", sort=True):
        base = str(rows["base"].iloc[0])
        bx, by = graph.nodes[base]["x"], graph.nodes[base]["y"]
        pcns = " ".join(sorted(rows["pcn_id"].astype(str)))
        for pcn in sorted(rows["pcn_id"].astype(str)):
            for code in sorted(groups.get(pcn, ())):
                if code == base or code not in graph:
                    continue
                x, y = graph.nodes[code]["x"], graph.nodes[code]["y"]
                records.append(
                    {
                        "cluster": cluster,
                        "pcns": pcns,
                        "base": base,
                        "practice_code": code,
                        "pcn_id": pcn,
                        "km": float(np.hypot(x - bx, y - by)) / 1000,
                        "base_x": float(bx),
                        "base_y": float(by),
                        "x": float(x),
                        "y": float(y),
                    }
                )
    columns = ["cluster", "pcns", "base", "practice_code", "pcn_id", "km", "base_x", "base_y", "x", "y"]
    return pd.DataFrame.from_records(records, columns=columns)


def _notes(options: ShareOptions, rate: CdRate) -> tuple[str, ...]:
    notes = [rate.describe()]
    if rate.uncertain:
        notes.append(f"the {rate.year} rate is uncertain: {rate.note}")
    if options.cluster_size > 2:
        notes.append(
            f"the arrangement and the sensitivity table share CDs in clusters of up to "
            f"{options.cluster_size} PCNs (the partition model, solved at each distance limit)"
        )
    if options.across_ccgs:
        notes.append("PCNs meeting only across a CCG boundary count as neighbours")
    return tuple(notes)


def share_plan(
    plan: Plan,
    graph: nx.Graph,
    *,
    options: ShareOptions | None = None,
    rates: str | os.PathLike[str] | Mapping[str, CdRate] | None = None,
    names: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ShareResult:
    """Find which neighbouring PCNs could share a clinical director, and the best arrangement.

    Parameters
    ----------
    plan
        Any plan: the current PCNs or a proposed one.
    graph
        The graph of neighbouring practices.
    options
        Limits and choices (default :class:`ShareOptions`).
    rates
        A rates file or table of :class:`CdRate` by year (default: the shipped file).
    names
        PCN id to name, for the arrangement table.
    progress
        With clusters of more than two PCNs, called with the name of each step solved (the
        arrangement, then each distance limit of the sensitivity table): ``1 +
        len(options.sensitivity_km)`` calls.

    Returns
    -------
    ShareResult

    Raises
    ------
    DataError
        If ``options.year`` is not in the rates, the rates file is unusable or a named base
        practice is in no PCN of the plan.
    """
    options = options or ShareOptions()
    table = rates if isinstance(rates, Mapping) else read_rates(rates)
    rate = rate_for_year(options.year, table)
    candidates = share_candidates(plan, graph, options=options, rate=rate)
    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    singles = _singles(pcns, _Sites.from_graph(pcns, graph), options, rate)
    pairs = candidates[candidates["size"] == 2]
    chosen = optimal_pairs(list(pcns), pairs[pairs["meets_limits"]], singles["cost"].to_dict())
    shared: dict[tuple[str, ...], Mapping[str, Any]] = {
        tuple(row["pcns"]): row for _, row in pairs.iterrows() if tuple(row["pcns"]) in set(chosen)
    }
    status: dict[str, Any] = {}
    clusters: dict[tuple[str, ...], str] = {}
    partners = None
    if options.cluster_size > 2:
        clusters, status = _clusters_from_model(pcns, graph, options, singles)
        if progress is not None:
            progress("arrangement")
        shared = _cluster_figures(clusters, pcns, graph, rate)
        partners = _partners(candidates)
    in_shared = {p for c in shared for p in c}
    by_pair = {tuple(p): row for p, (_, row) in zip(pairs["pcns"], pairs.iterrows(), strict=True)}
    keep_own = {p: _keep_own_reason(p, pcns, by_pair, partners) for p in sorted(pcns) if p not in in_shared}
    free = ShareOptions(**{**asdict(options), "max_km": None})
    allowed = pairs.loc[np.array([not _limit_breaches(r, free) for _, r in pairs.iterrows()], dtype=bool)]
    return ShareResult(
        options=options,
        rate=rate,
        candidates=candidates,
        singles=singles,
        arrangement=_arrangement(shared, singles, keep_own),
        keep_own=keep_own,
        sensitivity=_cluster_sensitivity(pcns, graph, options, singles, (clusters, status), progress)
        if options.cluster_size > 2
        else _sensitivity(pcns, allowed, singles, options.sensitivity_km),
        names=dict(names or {}),
        notes=_notes(options, rate),
        status=status,
    )


def _cluster_figures(
    clusters: Mapping[tuple[str, ...], str], pcns: nx.Graph, graph: nx.Graph, rate: CdRate
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    sites = _Sites.from_graph(pcns, graph)
    out: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for cluster, base in clusters.items():
        fig = _figures(cluster, sites, frozenset({base}))
        out[cluster] = {**fig, **_funding(fig["patients"], rate)}
    return out


# The report -----------------------------------------------------------------------------------


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** np.floor(np.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))


def sensitivity_svg(table: pd.DataFrame, *, width: int = 560, height: int = 300) -> str:
    """Return a line chart of CD posts against the distance limit as standalone SVG text.

    Parameters
    ----------
    table
        :attr:`ShareResult.sensitivity` (columns ``max_km`` and ``cd_posts``).
    width, height
        Size in pixels.

    Examples
    --------
    >>> svg = sensitivity_svg(pd.DataFrame({"max_km": [5.0, 10.0], "cd_posts": [12, 9]}))
    >>> svg.startswith("<svg") and "<polyline" in svg
    True
    """
    left, right, top, bottom = 64, 16, 28, 44
    xs, ys = table["max_km"].to_numpy(float), table["cd_posts"].to_numpy(float)
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))
    step = _nice_step(float(ys.max() - ys.min()) or 1.0)
    y0 = np.floor(ys.min() / step) * step
    y1 = max(np.ceil(ys.max() / step) * step, y0 + step)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        "<title>CD posts needed as the distance limit grows</title>",
    ]
    for y in np.arange(y0, y1 + step / 2, step):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:,.0f}</text>'
        )
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x:g}</text>')
    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    parts += [
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" '
        'stroke="#333"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#333"/>',
        f'<polyline points="{points}" fill="none" stroke="#005eb8" stroke-width="2"/>',
        *(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="#005eb8"><title>{x:g} km: {y:,.0f} posts'
            "</title></circle>"
            for x, y in zip(xs, ys, strict=True)
        ),
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
        "largest base-to-member distance allowed (km)</text>",
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">CD posts</text>',
        "</svg>",
    ]
    return "\n".join(parts)


_REPORT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Clinical-director sharing: {{ title }}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #212b32; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #d8dde0; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f4f5; position: sticky; top: 0; }
.note { background: #fff9c4; padding: 0.5em 1em; }
</style></head><body>
<h1>Clinical-director sharing: {{ title }}</h1>
<p>Which neighbouring PCNs could share one clinical director (CD), how far the director's base is from
the member practices (straight lines between practice sites) and what time is funded
(0.25 WTE per 50,000 patients; {{ sessions_per_wte }} sessions a week per WTE).
Limits: {{ summary.options.limits }}. Year {{ summary.rate.year }}.</p>
{% for note in summary.notes %}<p class="note">{{ note }}</p>{% endfor %}
<h2>Summary</h2>
<table>
<tr><th>PCNs (CD posts now)</th><td class="n">{{ "{:,}".format(summary.pcns) }}</td></tr>
<tr><th>Practices, patients</th><td class="n">{{ "{:,}".format(summary.practices) }},
 {{ "{:,}".format(summary.patients) }}</td></tr>
<tr><th>Funded CD time</th><td class="n">{{ summary.funded_wte }} WTE
{%- if summary.gbp_a_year is not none %}, £{{ "{:,.0f}".format(summary.gbp_a_year) }} a year
{%- endif %}</td></tr>
<tr><th>Neighbouring pairs (meeting the limits)</th><td class="n">{{ summary.candidates.pairs }}
 ({{ summary.candidates.pairs_meeting_limits }})</td></tr>
{% if summary.candidates.clusters_over_two %}<tr><th>Clusters of 3+ PCNs (meeting the limits)</th>
<td class="n">{{ summary.candidates.clusters_over_two }}
 ({{ summary.candidates.clusters_over_two_meeting_limits }})</td></tr>{% endif %}
<tr><th>CD posts in the optimal arrangement</th><td class="n">{{ summary.arrangement.cd_posts }}</td></tr>
<tr><th>Shared clusters; PCNs keeping their own CD</th><td class="n">
{{ summary.arrangement.shared_clusters }}; {{ summary.arrangement.keep_own }}</td></tr>
<tr><th>Mean distance to the base (own bases)</th><td class="n">{{ summary.arrangement.mean_km_to_base }} km
 ({{ summary.arrangement.mean_km_own_bases }} km)</td></tr>
<tr><th>Funded WTE per post</th><td class="n">{{ summary.arrangement.wte_per_post }}</td></tr>
</table>
<p>The arrangement has the fewest CD posts under the limits and, among those, the least list-weighted mean
distance from each practice to its director's base: {{ summary.arrangement.method }}.</p>
<h2>Sensitivity to the distance limit</h2>
{{ svg }}
<table><tr><th>max km</th><th>CD posts</th><th>shared {{ "pairs" if summary.options.cluster_size == 2 else
"clusters" }}</th><th>mean km to base</th><th>proven</th></tr>
{% for r in summary.sensitivity %}<tr><td class="n">{{ r.max_km }}</td><td class="n">{{ r.cd_posts }}</td>
<td class="n">{{ r.shared }}</td><td class="n">{{ r.mean_km }}</td>
<td>{{ "yes" if r.proven else "no: a limit ran out" }}</td></tr>
{% endfor %}</table>
<h2>Shared clinical directors</h2>
{{ table(shared) }}
<h2>PCNs keeping their own clinical director, and why</h2>
{{ table(own) }}
<h2>Every pair of neighbouring PCNs</h2>
{{ table(pairs) }}
{% if map_links %}<h2>Maps of the shared clinical directors</h2>
<p>Per CCG, the plan's PCNs with a line from each shared director's base to every member practice:
{% for ccg, href in map_links %}<a href="{{ href }}">{{ ccg }}</a>{{ ", " if not loop.last }}{% endfor %}.</p>
{% endif %}{% if maps %}<p>{{ maps }}</p>{% endif %}
</body></html>
"""

_TABLE = """{% macro table(frame) %}<table><tr>{% for c in frame.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in frame.itertuples(index=False) %}<tr>{% for v in row %}
<td{% if v is number %} class="n"{% endif %}>{{ "" if v is none else v }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endmacro %}"""


def share_report_html(
    result: ShareResult,
    *,
    title: str = "current PCNs",
    maps_note: str = "",
    maps: Sequence[tuple[str, str]] = (),
) -> str:
    """Return a readable HTML report of ``result``: summary, sensitivity plot and tables.

    Built with jinja2 (autoescape on); the plot is inline SVG, so the file needs nothing else.
    ``maps``: (CCG, address) of each CCG's map of the shared clusters, linked from the report.
    """
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    arrangement = result.arrangement_table()
    shared = arrangement[result.arrangement["pcns"] > 1].drop(columns="reason")
    own = arrangement[result.arrangement["pcns"] == 1][["pcn_id", "pcn_name", "patients", "reason"]]
    template = env.from_string(_TABLE + _REPORT)
    return template.render(
        title=title,
        summary=result.summary(),
        sessions_per_wte=SESSIONS_PER_WTE,
        svg=Markup(sensitivity_svg(result.sensitivity)),  # our own SVG text: numbers only
        shared=shared,
        own=own,
        pairs=result.pairs_table(),
        maps=maps_note,
        map_links=list(maps),
    )
