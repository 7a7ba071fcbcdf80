"""Clusters of more than two PCNs sharing a CD: the partition model on the graph of PCNs.

:func:`cluster_reach` gives the partition model (:func:`footprint.partition.cluster_groups`,
imported only when clusters are asked for) the PCNs each base practice could serve; the private
helpers read the optimal clusters back from the model, work out their figures and re-solve
them at each distance limit of the sensitivity table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from footprint.share.candidates import _figures, _funding, _Sites
from footprint.share.options import ShareOptions
from footprint.share.pairing import SENSITIVITY_COLUMNS, _sensitivity_row
from footprint.share.rates import CdRate

__all__ = ["cluster_reach"]


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
        The graph of PCNs (:func:`~footprint.share.candidates.pcn_graph`); only PCNs of one
        connected component pair up.
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


def _cluster_figures(
    clusters: Mapping[tuple[str, ...], str], pcns: nx.Graph, graph: nx.Graph, rate: CdRate
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    sites = _Sites.from_graph(pcns, graph)
    out: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for cluster, base in clusters.items():
        fig = _figures(cluster, sites, frozenset({base}))
        out[cluster] = {**fig, **_funding(fig["patients"], rate)}
    return out
