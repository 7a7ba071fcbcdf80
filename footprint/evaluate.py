"""Judge a plan: the rules it breaks (:func:`check_plan`) and how good it is (:func:`score_plan`).

Evaluation works on any :class:`~footprint.plan.Plan` (the solver's, the current PCNs,
a planner's file) and never depends on OR-Tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np

from footprint.config import SizeBand
from footprint.graph import WITHIN_CCG
from footprint.plan import Plan

__all__ = ["PlanScore", "Violation", "check_plan", "compactness_km", "score_plan"]


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
    in_band_patients: int
    patients: int
    deviation: int
    split_sites: int
    compactness_km: float

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


def score_plan(
    plan: Plan,
    graph: nx.Graph,
    *,
    band: SizeBand | None = None,
    rural: frozenset[str] = frozenset(),
    rural_floor: int | None = None,
) -> PlanScore:
    """Return the figures of merit of ``plan``: groups, out of band, deviation, split buildings, compactness.

    Parameters
    ----------
    plan, graph
        The plan and the adjacency graph (node ``list_size``, ``x``, ``y``; ``site`` edges).
    band
        The band (default 30,000-50,000).
    rural, rural_floor
        Codes of rural practices; a group of only rural practices is in band from ``rural_floor``.
    """
    band = band or SizeBand()
    floor_rural = band.low if rural_floor is None else rural_floor
    out = in_band = patients = deviation = 0
    groups = plan.groups
    for members in groups.values():
        size = sum(int(graph.nodes[m]["list_size"]) for m in members if m in graph)
        floor = floor_rural if members and members <= rural else band.low
        gap = max(floor - size, size - band.high, 0)
        patients += size
        deviation += gap
        if gap:
            out += 1
        else:
            in_band += size
    site = nx.Graph((a, b) for a, b, kind in graph.edges(data="type") if kind == "site")
    split = sum(
        len({plan.assignment.get(c) for c in component}) > 1 for component in nx.connected_components(site)
    )
    return PlanScore(len(groups), out, in_band, patients, deviation, split, compactness_km(plan, graph))
