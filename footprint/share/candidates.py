"""The candidates for sharing a CD: neighbouring PCNs, alone, in pairs and in clusters.

:func:`pcn_graph` joins PCNs whose practices neighbour; :func:`share_candidates` lists every
pair (and connected cluster up to ``cluster_size``) of them with its base, distances, totals,
funding and the limits it breaks. The private helpers work out one cluster's figures
(:class:`_Sites`, :func:`_figures`, which holds the one rule for a CD's base that every mode
and output uses) and each PCN's own, when it keeps its CD (:func:`_singles`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from footprint.config import SESSIONS_PER_WTE
from footprint.errors import DataError
from footprint.evaluate import group_table, practices_from_graph
from footprint.graph import WITHIN_CCG
from footprint.plan import Plan
from footprint.share.options import ShareOptions
from footprint.share.rates import CdRate, rate_for_year

__all__ = ["PAIR_COLUMNS", "pcn_graph", "share_candidates"]

logger = logging.getLogger(__name__)

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
    "bridged",
)


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
    table = group_table(
        plan.restrict([c for c in plan.assignment if c in graph]), practices_from_graph(graph)
    )
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


def _islands(graph: nx.Graph) -> dict[str, int]:
    """Return each practice's island: its component of the graph without ``bridge`` edges.

    Two practices on different islands are joined only across a bridge of the graph (a
    crossing over water, such as the Isles of Scilly to Cornwall).
    """
    land = nx.Graph()
    land.add_nodes_from(graph)
    land.add_edges_from((a, b) for a, b, kind in graph.edges(data="type") if kind != "bridge")
    return {c: k for k, part in enumerate(sorted(nx.connected_components(land), key=min)) for c in part}


@dataclass(frozen=True)
class _Sites:
    """Practice positions, list sizes and islands as arrays, with each PCN's rows."""

    codes: np.ndarray
    xy: np.ndarray
    size: np.ndarray
    island: np.ndarray
    rows: dict[str, np.ndarray]
    index: dict[str, int]

    @classmethod
    def from_graph(cls, pcns: nx.Graph, graph: nx.Graph) -> _Sites:
        codes = sorted({c for _, members in pcns.nodes(data="members") for c in members})
        row = {c: i for i, c in enumerate(codes)}
        xy = np.array([[graph.nodes[c]["x"], graph.nodes[c]["y"]] for c in codes], dtype=float)
        size = np.array([graph.nodes[c]["list_size"] for c in codes], dtype=float)
        islands = _islands(graph)
        island = np.array([islands[c] for c in codes], dtype=int)
        rows = {p: np.array([row[c] for c in m]) for p, m in pcns.nodes(data="members")}
        return cls(np.array(codes, dtype=object), xy.reshape(-1, 2), size, island, rows, row)

    def from_base(self, base: str, pcn: str) -> tuple[float, float]:
        """Return the largest km and the patient-metres (unrounded) from practice ``base`` to PCN ``pcn``."""
        rows = self.rows[pcn]
        dist = np.hypot(*(self.xy[rows] - self.xy[self.index[base]]).T)
        return float(dist.max()) / 1000, float(dist @ self.size[rows])


def _figures(cluster: Sequence[str], sites: _Sites, bases: frozenset[str]) -> dict[str, Any]:
    """Return a cluster's base, distances and totals: the one rule for a CD's base.

    The base is a named base among the members if any (the best of them), else the member
    whose largest distance to the others is least (what ``max_km`` limits); ties go to the
    least list-weighted mean distance, then the smaller code. ``cost`` is the patient-metres
    from the base, rounded to whole patient-metres: the quantity the arrangement minimises
    after the number of posts. ``bridged`` names the members joined to the base only across
    a bridge of the graph (over water).
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
    island = sites.island[rows]
    return {
        "base": str(codes[pick]),
        "max_km": float(largest[pick]) / 1000,
        "mean_km": float(weighted[pick]) / patients / 1000 if patients else 0.0,
        "cost": round(float(weighted[pick])),
        "patients": patients,
        "practices": len(rows),
        "bridged": " ".join(sorted(codes[island != island[pick]])),
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
    """Return the funded CD time (WTE, sessions a week) and money of ``patients`` in the rate's year."""
    wte = rate.wte(patients)
    return {
        "wte": None if wte is None else round(wte, 4),
        "sessions": None if wte is None else round(wte * SESSIONS_PER_WTE, 2),
        "gbp": rate.gbp(patients),
    }


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


def _candidates(pcns: nx.Graph, sites: _Sites, options: ShareOptions, rate: CdRate) -> pd.DataFrame:
    """Return every pair (and connected cluster up to ``options.cluster_size``) of ``pcns``."""
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
        The year's CD funding (default: ``options.year`` from the shipped rates file).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, pairs first: ``pcns`` (tuple of PCN ids), ``size`` (PCNs),
        ``pcn_a``, ``pcn_b`` (the first two), ``patients``, ``practices``, ``wte``,
        ``sessions`` and ``gbp`` (``None`` when the year funds no separate CD time or money),
        ``base``, ``max_km``, ``mean_km``, ``cost`` (patient-metres from the base),
        ``meets_limits``, ``reason`` (the limits broken, ``""`` when met) and ``bridged``
        (members joined to the base only across a bridge of the graph).

    Raises
    ------
    DataError
        If a named base practice is in no PCN of the plan.
    """
    options = options or ShareOptions()
    rate = rate or rate_for_year(options.year)
    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    _check_bases(options.bases, plan, pcns)
    return _candidates(pcns, _Sites.from_graph(pcns, graph), options, rate)


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
        "bridged",
    ]
    return pd.DataFrame.from_records(records, columns=columns).set_index("pcn_id")
