"""Clusters of more than two PCNs sharing a CD: the partition model on the graph of PCNs.

The partition model (:func:`footprint.partition.cluster_groups`, imported only when clusters
are asked for) roots each cluster at the PCN holding its base and lets a base serve the PCNs
within its reach. :func:`cluster_bases` gives it one candidate base for each allowed cluster
(:func:`~footprint.share.candidates.share_candidates`' rows that meet the limits): the
cluster's own base by the one rule of :func:`~footprint.share.candidates._figures` (furthest
member closest, then least patient-distance), serving exactly that cluster's PCNs. So the
model's clusters are based, and its distance stage is measured, as pairs and every table are.

A base may also serve part of its cluster in the model; a weight per member (``weight * (k - 1)
/ k`` in a cluster of ``k`` PCNs, a constant ``weight * (PCNs - posts)`` over any arrangement
with a given number of posts) makes that always dearer than the part's own base, by more than
any distance, so no optimum uses it and the model's set-partition columns take each cluster's
own base. :func:`_clusters_from_model` reads the clusters back and says, per component of
PCNs that could share, which stage is proven: the fewest posts, then the least distance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import networkx as nx
import pandas as pd

from footprint.config import SolveOptions
from footprint.share.candidates import _Sites

__all__ = ["ClusterBases", "cluster_bases"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterBases:
    """What the partition model needs to arrange clusters of PCNs: their bases and reach.

    Attributes
    ----------
    bases
        PCN id to the ids of the candidate bases it holds (one per allowed cluster whose
        base practice is one of its members).
    reach
        ``(base id, pcn id) -> (largest km, cost)``: the PCNs each base serves (its cluster's)
        and the patient-metres from the base practice to the PCN's practices, plus
        ``weight * (k - 1) / k`` for a cluster of ``k`` PCNs.
    clusters
        Base id to its cluster (sorted PCN ids).
    practice
        Base id to the base practice's code.
    weight
        The weight per cluster that keeps each base to its own cluster (see the module).
    """

    bases: dict[str, tuple[str, ...]]
    reach: dict[tuple[str, str], tuple[float, int]]
    clusters: dict[str, tuple[str, ...]]
    practice: dict[str, str]
    weight: int


def _split_cost(parts: Sequence[float]) -> list[int]:
    """Return whole numbers, one per part, that sum to the rounded total (rounded running sums)."""
    out, before, total = [], 0, 0.0
    for part in parts:
        total += part
        out.append(round(total) - before)
        before = round(total)
    return out


def cluster_bases(pcns: nx.Graph, graph: nx.Graph, allowed: pd.DataFrame) -> ClusterBases:
    """Return one candidate base per allowed cluster, serving exactly that cluster's PCNs.

    Parameters
    ----------
    pcns
        The graph of PCNs (:func:`~footprint.share.candidates.pcn_graph`).
    graph
        The graph of neighbouring practices (node ``x``, ``y``, ``list_size``).
    allowed
        The clusters that may share a CD: candidates (columns ``pcns``, ``base`` and
        ``cost``, as :func:`~footprint.share.candidates.share_candidates` gives them) that
        meet every limit.

    Returns
    -------
    ClusterBases

    Examples
    --------
    >>> g = nx.Graph()
    >>> for code, x in [("A", 0), ("B", 3_000), ("C", 6_000)]:
    ...     g.add_node(code, x=float(x), y=0.0, list_size=10_000, ccg_code="X")
    >>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    >>> from footprint.plan import Plan
    >>> from footprint.share import pcn_graph, share_candidates, ShareOptions
    >>> plan = Plan({"A": "p", "B": "q", "C": "r"})
    >>> found = share_candidates(plan, g, options=ShareOptions(max_km=5, cluster_size=3))
    >>> made = cluster_bases(pcn_graph(plan, g), g, found[found["meets_limits"]])
    >>> sorted(made.clusters.values()), made.practice["B:p+q+r"]
    ([('p', 'q'), ('p', 'q', 'r'), ('q', 'r')], 'B')
    """
    sites = _Sites.from_graph(pcns, graph)
    owner = {c: p for p, members in pcns.nodes(data="members") for c in members}
    largest = int(allowed["size"].max()) if len(allowed) else 2
    step = math.lcm(*range(1, largest + 1))
    top = int(allowed["cost"].max()) if len(allowed) else 0
    # Above largest**2 times any cluster's patient-metres, and a multiple of 1..largest.
    weight = step * (largest * largest * top // step + 1)
    bases: dict[str, list[str]] = {p: [] for p in pcns}
    reach: dict[tuple[str, str], tuple[float, int]] = {}
    clusters: dict[str, tuple[str, ...]] = {}
    practice: dict[str, str] = {}
    for cluster, base, total in zip(allowed["pcns"], allowed["base"], allowed["cost"], strict=True):
        cluster = tuple(cluster)
        name = f"{base}:{'+'.join(cluster)}"
        bases[owner[base]].append(name)
        clusters[name], practice[name] = cluster, str(base)
        each = [sites.from_base(base, q) for q in cluster]
        extra = weight * (len(cluster) - 1) // len(cluster)
        # Whole patient-metres per PCN that sum to the cluster's own (rounded) cost.
        exact = _split_cost([metres for _, metres in each])
        exact[-1] += int(total) - sum(exact)  # the cluster's cost exactly, whatever the float order
        for q, (km, _), cost in zip(cluster, each, exact, strict=True):
            reach[name, q] = (km, cost + extra)
    return ClusterBases({p: tuple(b) for p, b in bases.items()}, reach, clusters, practice, weight)


class _NotProvenFilter(logging.Filter):
    """Hold back the partition model's own not-proven warning: share says which stage is proven."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("CD clusters of")


@contextmanager
def _own_warnings() -> Iterator[None]:
    partition_log = logging.getLogger("footprint.partition.clusters")
    held = _NotProvenFilter()
    partition_log.addFilter(held)
    try:
        yield
    finally:
        partition_log.removeFilter(held)


def _component_status(raw: Mapping[str, Any], weight: int) -> dict[str, Any]:
    """Return a component's status in share's terms: which stage is proven, values without the weight.

    The weight adds ``weight * (PCNs - posts)`` to the distance stage of an arrangement with
    that many posts; taken off, the value and bound are patient-metres to the bases.
    """
    posts, metres = raw["stages"][0], raw["stages"][1]
    shared = raw["pcns"] - round(posts["value"])
    bound = metres["bound"] - weight * shared if posts["proven"] else None
    return {
        "status": raw["status"],
        "ccgs": raw["ccgs"],
        "pcns": raw["pcns"],
        "posts": round(posts["value"]),
        "posts_bound": math.ceil(posts["bound"] - 1e-9),
        "posts_proven": bool(posts["proven"]),
        "patient_metres": max(0, round(metres["value"] - weight * shared)),
        "patient_metres_bound": None if bound is None else max(0, math.ceil(bound - 1e-6)),
        "distance_proven": bool(posts["proven"] and metres["proven"]),
        "seconds": round(sum(float(s["seconds"]) for s in raw["stages"]), 3),
    }


def _clusters_from_model(
    pcns: nx.Graph,
    graph: nx.Graph,
    allowed: pd.DataFrame,
    singles: pd.DataFrame,
    *,
    cluster_size: int,
    solve: SolveOptions | None = None,
) -> tuple[dict[tuple[str, ...], str], dict[str, Any]]:
    """Return the optimal clusters (members to base practice) from the partition model, and its status.

    ``allowed``: the candidate clusters meeting every limit, of up to ``cluster_size`` PCNs.
    A PCN alone keeps its own base and patient-metres (``singles``), whatever the limits.
    """
    from footprint.partition import cluster_groups  # OR-Tools only when clusters are asked for

    made = cluster_bases(pcns, graph, allowed)
    # The model sees only the edges inside some allowed cluster: no other can join two PCNs
    # of one cluster (exact, and far fewer arcs and smaller neighbourhoods to search).
    model_graph = nx.Graph()
    for p, data in pcns.nodes(data=True):
        extra = {"bases": made.bases[p], "alone_base": singles.loc[p, "base"]}
        model_graph.add_node(p, **data, **extra, alone_cost=int(singles.loc[p, "cost"]))
    model_graph.add_edges_from(
        (a, b)
        for cluster in made.clusters.values()
        for a, b in combinations(cluster, 2)
        if pcns.has_edge(a, b)
    )
    with _own_warnings():
        plan = cluster_groups(
            model_graph,
            max_pcns=cluster_size,
            max_patients=None,  # the allowed clusters meet every limit already
            max_practices=None,
            reach=made.reach,
            options=solve,
        )
    clusters: dict[tuple[str, ...], str] = {}
    for root, members in plan.groups.items():
        if len(members) < 2:
            continue
        name = plan.info["base"][root]
        if tuple(sorted(members)) != made.clusters[name]:
            msg = f"internal: the cluster model used base {name} for {sorted(members)}, not its own cluster"
            raise AssertionError(msg)
        clusters[made.clusters[name]] = made.practice[name]
    status: dict[str, Any] = {}
    for first, raw in plan.info["status"].items():
        status[first] = _component_status(raw, made.weight)
        if not status[first]["distance_proven"]:
            logger.warning("CD clusters of %s: %s", first, _status_words(status[first]))
    return clusters, status


def _status_words(status: Mapping[str, Any]) -> str:
    """Say which stage of a component's arrangement is proven, e.g. for a warning."""
    where = f"{status['pcns']} PCNs in {', '.join(status['ccgs'])}"
    if not status["posts_proven"]:
        return (
            f"{where}: {status['posts']} CD posts found, at least {status['posts_bound']} possible: "
            "the fewest posts is not proven within the limit"
        )
    if status["distance_proven"]:
        return f"{where}: fewest CD posts ({status['posts']}) and least distance proven"
    bound = status["patient_metres_bound"]
    gap = (
        (status["patient_metres"] - bound) / status["patient_metres"]
        if bound and status["patient_metres"]
        else 0
    )
    return (
        f"{where}: fewest CD posts ({status['posts']}) proven; least distance to the base not proven "
        f"within the limit (within {gap:.1%} of its bound)"
    )
