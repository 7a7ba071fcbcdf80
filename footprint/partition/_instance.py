"""One CCG's planning problem in plain arrays, built from the graph, the locks and allow-cross.

An :class:`Instance` is what every other part of the partitioner reads: the warm start,
the model builders, the stage evaluators and the explanations. It holds no OR-Tools
object, so it pickles to worker processes. The band rule is never written here: every
question about a group's size goes to :class:`footprint.config.Rules`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment

from footprint.config import GroupStatus, Rules
from footprint.errors import PlanError
from footprint.graph import WITHIN_CCG
from footprint.places import display_name
from footprint.plan import Plan

if TYPE_CHECKING:
    from footprint.partition._pieces import Piece

__all__ = [
    "Instance",
    "PlanInputs",
    "centres",
    "forest",
    "instances_from_graph",
    "match_current",
    "members_of",
    "path_lengths",
    "subtree_sizes",
]

#: Arc lengths of the model's tree distance are in units of 100 m.
DIST_UNIT_M = 100.0
#: Group centres are chosen by list size in units of 100 patients.
SIZE_UNIT = 100


@dataclass
class Instance:
    """One CCG's planning problem (practices indexed ``0 .. n-1`` in code order).

    ``locked`` lists the agreed groups (practice indices); ``approved[k]`` says whether
    locked group ``k`` is approved as an exception to the band. ``big[i]`` marks a
    practice over the band that must stand alone (the rules do not let it merge).
    ``current`` is each practice's current PCN index (``-1`` for none), or ``None``.
    ``xy`` holds each practice's easting and northing (British National Grid, metres).
    """

    ccg: str
    codes: list[str]
    names: list[str]
    sizes: list[int]
    xy: list[tuple[float, float]]
    edges: list[tuple[int, int]]
    bridges: dict[tuple[int, int], float]
    sites: list[list[int]]
    big: list[bool]
    rural: list[bool]
    locked: list[list[int]]
    current: list[int] | None
    rules: Rules
    approved: list[bool] = field(default_factory=list)
    #: The PCN id of each locked group (as the lock file names it).
    locked_ids: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Return the number of practices."""
        return len(self.codes)

    @cached_property
    def pieces(self) -> list[Piece]:
        """Return the pieces cut off by one practice, each enumerated (see :func:`pieces_of`)."""
        from footprint.partition._pieces import pieces_of  # it imports this module

        return pieces_of(self)

    @property
    def arcs(self) -> list[tuple[int, int]]:
        """Return both directions of every edge (the forest's candidate parent arcs)."""
        return [(i, j) for i, j in self.edges] + [(j, i) for i, j in self.edges]

    def neighbours(self) -> list[list[int]]:
        """Return each practice's neighbouring practice indices."""
        adj: list[list[int]] = [[] for _ in range(self.n)]
        for i, j in self.edges:
            adj[i].append(j)
            adj[j].append(i)
        return adj

    def oversize_sites(self) -> list[list[int]]:
        """Return the buildings whose movable practices (two or more) total more than the ceiling.

        Movable: not big ones. Every plan splits them, unless the rules keep buildings whole
        (then they stand in a group above the band).
        """
        high = self.rules.band.high
        movable = [[i for i in site if not self.big[i]] for site in self.sites]
        return [
            site
            for site, free in zip(self.sites, movable, strict=True)
            if len(free) > 1 and sum(self.sizes[i] for i in free) > high
        ]

    def fixed_groups(self) -> list[list[int]]:
        """Return the groups no plan may change: big practices standing alone, then locked groups."""
        return [[i] for i in range(self.n) if self.big[i]] + [list(g) for g in self.locked]

    @cached_property
    def approved_members(self) -> frozenset[int]:
        """Return the practices of locked groups approved as exceptions."""
        return frozenset(
            i for k, g in enumerate(self.locked) if k < len(self.approved) and self.approved[k] for i in g
        )

    def is_rural(self, members: Iterable[int]) -> bool:
        """Return whether every practice of ``members`` is rural."""
        return all(self.rural[i] for i in members)

    def is_approved(self, members: Sequence[int]) -> bool:
        """Return whether ``members`` is a locked group approved as an exception."""
        return bool(members) and members[0] in self.approved_members

    def status(self, members: Sequence[int]) -> GroupStatus:
        """Return what the band rule (:meth:`Rules.group_status`) says of one group of practices."""
        total = sum(self.sizes[i] for i in members)
        return self.rules.group_status(
            total, practices=len(members), rural=self.is_rural(members), approved=self.is_approved(members)
        )

    def deviation(self, members: Iterable[int]) -> int:
        """Return how many patients a group lies outside the band (:meth:`Rules.deviation`)."""
        return self.rules.deviation(sum(self.sizes[i] for i in members))

    def restrict(self, keep: Iterable[int]) -> Instance:
        """Return the instance of the practices ``keep`` alone, renumbered ``0 ..`` in index order.

        Practice ``k`` of the result is ``sorted(keep)[k]`` here. Every per-practice field
        is restricted to ``keep``; only edges (and bridges) between kept practices remain,
        and only buildings with two or more kept practices. A locked group must be kept
        whole or not at all (with its approval and PCN id).

        Raises
        ------
        ValueError
            If ``keep`` names an index out of range or cuts a locked group.

        Examples
        --------
        >>> from footprint.config import Rules
        >>> inst = Instance("X", ["A", "B", "C"], ["a", "b", "c"], [10, 20, 30], [(0.0, 0.0)] * 3,
        ...                 [(0, 1), (1, 2)], {}, [], [False] * 3, [False] * 3, [[0]], None, Rules(),
        ...                 [True], ["p"])
        >>> part = inst.restrict([0, 2])
        >>> part.codes, part.edges, part.locked, part.locked_ids
        (['A', 'C'], [], [[0]], ['p'])
        """
        kept = sorted(set(keep))
        if kept and not 0 <= kept[0] <= kept[-1] < self.n:
            msg = f"restrict: indices must lie in 0..{self.n - 1} (the practices of {self.ccg}), not {kept}"
            raise ValueError(msg)
        new = {i: k for k, i in enumerate(kept)}
        locks = []
        for k, group in enumerate(self.locked):
            inside = [i for i in group if i in new]
            if not inside:
                continue
            if len(inside) < len(group):
                pcn = self.locked_ids[k] if k < len(self.locked_ids) else str(k)
                msg = (
                    f"restrict: the practices kept cut locked group {pcn} of {self.ccg}; "
                    "keep it whole or not at all"
                )
                raise ValueError(msg)
            locks.append(k)
        sites = [[new[i] for i in site if i in new] for site in self.sites]
        return Instance(
            ccg=self.ccg,
            codes=[self.codes[i] for i in kept],
            names=[self.names[i] for i in kept],
            sizes=[self.sizes[i] for i in kept],
            xy=[self.xy[i] for i in kept],
            edges=[(new[i], new[j]) for i, j in self.edges if i in new and j in new],
            bridges={(new[i], new[j]): km for (i, j), km in self.bridges.items() if i in new and j in new},
            sites=[site for site in sites if len(site) > 1],
            big=[self.big[i] for i in kept],
            rural=[self.rural[i] for i in kept],
            locked=[[new[i] for i in self.locked[k]] for k in locks],
            current=None if self.current is None else [self.current[i] for i in kept],
            rules=self.rules,
            approved=[k < len(self.approved) and self.approved[k] for k in locks] if self.approved else [],
            locked_ids=[self.locked_ids[k] for k in locks if k < len(self.locked_ids)],
        )

    def metres(self, i: int, j: int) -> float:
        """Return the straight-line distance between practices ``i`` and ``j``, in metres."""
        (xi, yi), (xj, yj) = self.xy[i], self.xy[j]
        return math.hypot(xi - xj, yi - yj)

    @cached_property
    def arc_length(self) -> dict[tuple[int, int], int]:
        """Return each arc's length in the model's tree distance (100 m units, at least 1)."""
        return {(i, j): max(1, round(self.metres(i, j) / DIST_UNIT_M)) for i, j in self.arcs}


# --------------------------------------------------------------------------------------
# Groupings: label per practice -> members, trees, centres
# --------------------------------------------------------------------------------------


def members_of(labels: Sequence[int]) -> dict[int, list[int]]:
    """Return each group label's practice indices, in index order."""
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return groups


def centres(inst: Instance, labels: Sequence[int]) -> list[int]:
    """Return, per practice, its group's centre: the member nearest the others, list-weighted.

    A member's cost is the sum over the group of each practice's distance to it (in 100 m
    units) times its list size (in units of 100 patients, at least 1), each term rounded;
    of members alike, the lowest index is the centre.
    """
    weight = [max(size // SIZE_UNIT, 1) for size in inst.sizes]
    centre_of = [0] * inst.n
    for members in members_of(labels).values():
        costs = [sum(round(inst.metres(i, j) / DIST_UNIT_M * weight[i]) for i in members) for j in members]
        centre = members[costs.index(min(costs))]
        for i in members:
            centre_of[i] = centre
    return centre_of


def path_lengths(
    adjacency: Sequence[Iterable[int]],
    length: Mapping[tuple[int, int], int],
    members: Iterable[int],
    root: int,
) -> dict[int, int]:
    """Return each member's shortest path from ``root`` within ``members`` (Dijkstra on ``length``).

    Members the group does not connect to ``root`` are left out.
    """
    inside = set(members)
    done: dict[int, int] = {}
    reach, heap = {root: 0}, [(0, root)]
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done[u] = d
        for v in adjacency[u]:
            if v in inside and v not in done and d + length[u, v] < reach.get(v, d + length[u, v] + 1):
                reach[v] = d + length[u, v]
                heapq.heappush(heap, (reach[v], v))
    return done


def least_tree(
    inst: Instance, group: Sequence[int], *, adjacency: Sequence[Iterable[int]] | None = None
) -> int:
    """Return a group's tree distance: the model's compactness, its root free.

    The least over its roots of each practice's list size times its shortest path from the
    root within the group (the model's arc lengths: the shortest-path tree's sum of arc length
    times subtree size). ``adjacency``: ``inst.neighbours()`` where the caller has it. Raises
    ``AssertionError`` for a group its own practices do not connect.
    """
    adjacency, least = inst.neighbours() if adjacency is None else adjacency, None
    for root in group:
        reach = path_lengths(adjacency, inst.arc_length, group, root)
        if len(reach) != len(group):
            msg = f"internal: group {sorted(group)} of {inst.ccg} is not connected"
            raise AssertionError(msg)
        cost = sum(inst.sizes[v] * d for v, d in reach.items())
        least = cost if least is None else min(least, cost)
    return least or 0


def model_compactness(inst: Instance, labels: Sequence[int]) -> float:
    """Return the model's compactness of a grouping: each group's least tree distance over its roots."""
    adjacency = inst.neighbours()
    groups = [members for members in members_of(labels).values() if len(members) > 1]
    return float(sum(least_tree(inst, members, adjacency=adjacency) for members in groups))


def forest(inst: Instance, labels: Sequence[int], *, centre_roots: bool) -> tuple[list[int], dict[int, int]]:
    """Return each practice's root and parent: per group, a shortest-path tree from its root.

    The root is the group's smallest index, or with ``centre_roots`` its centre.
    """
    centre_of = centres(inst, labels) if centre_roots else None
    adjacency = nx.Graph()
    adjacency.add_weighted_edges_from((i, j, inst.arc_length[i, j]) for i, j in inst.edges)
    root_of = [0] * inst.n
    parent: dict[int, int] = {}
    for members in members_of(labels).values():
        root = centre_of[members[0]] if centre_of is not None else min(members)
        if len(members) > 1:
            paths = nx.single_source_dijkstra_path(adjacency.subgraph(members), root)
            if len(paths) != len(members):
                msg = f"internal: group {sorted(members)} of {inst.ccg} is not connected"
                raise AssertionError(msg)
            parent.update((path[-1], path[-2]) for path in paths.values() if len(path) > 1)
        for i in members:
            root_of[i] = root
    return root_of, parent


def subtree_sizes(inst: Instance, parent: Mapping[int, int]) -> list[int]:
    """Return the list size of each practice's subtree (what flows into it from its parent)."""
    children: dict[int, list[int]] = {}
    for child, up in parent.items():
        children.setdefault(up, []).append(child)
    subtree = list(inst.sizes)
    order = [i for i in range(inst.n) if i not in parent]
    for u in order:  # roots first, then breadth-first down every tree
        order.extend(children.get(u, []))
    for v in reversed(order):
        if v in parent:
            subtree[parent[v]] += subtree[v]
    return subtree


def match_current(inst: Instance, root_of: Sequence[int]) -> dict[int, int]:
    """Match current PCNs to groups (by root) keeping the most practices in place."""
    assert inst.current is not None
    pcns = sorted({c for c in inst.current if c >= 0})
    roots = sorted(set(root_of))
    if not pcns:
        return {}
    overlap = np.zeros((len(pcns), len(roots)), dtype=int)
    row, col = {c: k for k, c in enumerate(pcns)}, {r: k for k, r in enumerate(roots)}
    for i, c in enumerate(inst.current):
        if c >= 0:
            overlap[row[c], col[root_of[i]]] += 1
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return {pcns[r]: roots[c] for r, c in zip(rows, cols, strict=True)}


def group_ids(inst: Instance, labels: Sequence[int]) -> dict[int, str]:
    """Name groups ``<CCG>-01``, ``<CCG>-02``, ... in order of their smallest practice code."""
    first: dict[int, str] = {}
    for i, label in enumerate(labels):
        if label not in first or inst.codes[i] < first[label]:
            first[label] = inst.codes[i]
    order = sorted(first, key=lambda label: first[label])
    return {label: f"{inst.ccg}-{k + 1:02d}" for k, label in enumerate(order)}


# --------------------------------------------------------------------------------------
# Building instances from the graph
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInputs:
    """What a plan starts from besides the graph and the rules (see ``solve_plan``)."""

    rural: frozenset[str] = frozenset()
    lock: Plan | None = None
    current: Plan | None = None
    allow_cross: Mapping[str, str] = field(default_factory=dict)
    ccgs: Sequence[str] | None = None
    approved: frozenset[str] = frozenset()


def instances_from_graph(graph: nx.Graph, rules: Rules, inputs: PlanInputs) -> list[Instance]:
    """Return one :class:`Instance` per CCG planned (practices moved by ``allow_cross`` included).

    Raises
    ------
    PlanError
        If an ``allow_cross`` entry or a lock cannot be honoured (names the practices).
    """
    rural, current, allow_cross, approved = inputs.rural, inputs.current, inputs.allow_cross, inputs.approved
    home = dict(graph.nodes(data="ccg_code"))
    planning = _planning_ccgs(graph, home, allow_cross)
    ccgs = inputs.ccgs
    wanted = sorted(set(planning.values())) if not ccgs else sorted({c.strip().upper() for c in ccgs})
    by_ccg: dict[str, list[str]] = {}
    for code, ccg in planning.items():
        by_ccg.setdefault(ccg, []).append(code)
    locked_groups = _locked_groups(inputs.lock, planning)
    current_ids: dict[str, int] = {}
    if current is not None:
        current_ids = {pcn: k for k, pcn in enumerate(sorted({p for p in current.assignment.values() if p}))}
    instances = []
    for ccg in wanted:
        codes = sorted(by_ccg.get(ccg, []))
        if not codes:
            continue
        index = {c: i for i, c in enumerate(codes)}
        edges, bridges, sites = _edges(graph, codes, index, home, allow_cross)
        data = [graph.nodes[c] for c in codes]
        sizes = [int(d["list_size"]) for d in data]
        mine = [(pcn, group) for g_ccg, pcn, group in locked_groups if g_ccg == ccg]
        inst = Instance(
            ccg=ccg,
            codes=codes,
            names=[display_name(str(d.get("practice_name", ""))) for d in data],
            sizes=sizes,
            xy=[(float(d["x"]), float(d["y"])) for d in data],
            edges=edges,
            bridges=bridges,
            sites=sites,
            # A practice over the band stands alone unless the rules let it merge.
            big=[not rules.big_may_merge and s > rules.band.high for s in sizes],
            rural=[rules.is_rural(ccg, flagged=c in rural) for c in codes],
            locked=[sorted(index[c] for c in group) for _, group in mine],
            approved=[pcn in approved for pcn, _ in mine],
            locked_ids=[pcn for pcn, _ in mine],
            current=(
                [current_ids.get(current.assignment.get(c) or "", -1) for c in codes]
                if current is not None
                else None
            ),
            rules=rules,
        )
        _check_locks_connected(inst)
        if rules.keep_sites:
            _check_sites_keepable(inst)
        instances.append(inst)
    return instances


def _planning_ccgs(
    graph: nx.Graph, home: Mapping[str, str], allow_cross: Mapping[str, str]
) -> dict[str, str]:
    """Return practice code to the CCG it is planned in (its own, or where allow-cross sends it)."""
    planning = dict(home)
    for code, target in allow_cross.items():
        target = target.strip().upper()
        if code not in graph:
            msg = f"allow-cross names practice {code}, which is not in the practices file"
            raise PlanError(msg)
        if not any(home[n] == target for n in graph[code]):
            msg = (
                f"allow-cross lets {code} ({display_name(graph.nodes[code]['practice_name'])}, CCG "
                f"{home[code]}) join CCG "
                f"{target}, but none of its neighbouring practices is in {target}; name a neighbouring CCG"
            )
            raise PlanError(msg)
        planning[code] = target
    return planning


def _edges(
    graph: nx.Graph,
    codes: list[str],
    index: Mapping[str, int],
    home: Mapping[str, str],
    allow_cross: Mapping[str, str],
) -> tuple[list[tuple[int, int]], dict[tuple[int, int], float], list[list[int]]]:
    """Return a CCG's usable edges, its bridges' lengths (km) and its buildings (practice indices)."""
    edges, bridges, site_edges = [], {}, []
    adjacency = graph.adj
    for a in codes:  # each edge between the CCG's practices once, from its end of lower index
        i = index[a]
        for b, data in adjacency[a].items():
            j = index.get(b)
            if j is None or j < i:
                continue
            kind = data["type"]
            crossing = home[a] != home[b]
            if kind not in WITHIN_CCG and not crossing:
                continue
            if kind == "cross_ccg" and not (crossing and (a in allow_cross or b in allow_cross)):
                continue
            edges.append((i, j))
            if kind == "bridge":
                bridges[i, j] = float(data["length_km"])
            if kind == "site":
                site_edges.append((i, j))
    sites = sorted(sorted(c) for c in nx.connected_components(nx.Graph(site_edges))) if site_edges else []
    return sorted(set(edges)), bridges, sites


def _locked_groups(lock: Plan | None, planning: Mapping[str, str]) -> list[tuple[str, str, list[str]]]:
    """Return each locked group as (CCG, PCN id, member codes)."""
    if lock is None:
        return []
    unknown = sorted(c for c in lock.assignment if c not in planning)
    if unknown:
        msg = f"the lock file names practices not in the practices file: {', '.join(unknown[:10])}"
        raise PlanError(msg)
    groups = []
    for pcn, members in lock.groups.items():
        ccgs = sorted({planning[c] for c in members})
        if len(ccgs) > 1:
            where = ", ".join(f"{c} ({planning[c]})" for c in sorted(members))
            msg = (
                f"locked group {pcn} spans CCGs {', '.join(ccgs)}: {where}; a PCN may not cross its CCG "
                "unless allow-cross lets those practices join the other CCG"
            )
            raise PlanError(msg)
        groups.append((ccgs[0], pcn, sorted(members)))
    return groups


def _check_locks_connected(inst: Instance) -> None:
    if not inst.locked:
        return
    adjacency = nx.Graph(inst.edges)
    adjacency.add_nodes_from(range(inst.n))
    for k, group in enumerate(inst.locked):
        parts = list(nx.connected_components(adjacency.subgraph(group)))
        if len(parts) > 1:
            pieces = "; ".join(", ".join(inst.codes[i] for i in sorted(p)) for p in parts)
            pcn = f" {inst.locked_ids[k]}" if k < len(inst.locked_ids) else ""
            msg = (
                f"a locked group{pcn} in CCG {inst.ccg} is not contiguous: its practices fall into "
                f"{len(parts)} pieces ({pieces}); fix the lock file or unlock those practices"
            )
            raise PlanError(msg)


def _check_sites_keepable(inst: Instance) -> None:
    """Refuse locks that split a building when practices of one building must share a group.

    Practices over the band stand alone whatever the rule, so only the others count.
    """
    lock_of = {i: k for k, group in enumerate(inst.locked) for i in group}
    for site in inst.sites:
        movable = [i for i in site if not inst.big[i]]
        held = {lock_of.get(i) for i in movable}
        if len(movable) < 2 or len(held) < 2:
            continue
        names = ", ".join(f"{inst.names[i]} ({inst.codes[i]})" for i in movable)
        locks = sorted(
            inst.locked_ids[k] if k < len(inst.locked_ids) else str(k) for k in held if k is not None
        )
        rest = " and leaves others open" if None in held else ""
        msg = (
            f"the building of {names} in CCG {inst.ccg} must stay in one group (keep_sites), but the "
            f"lock puts its practices in {' and '.join(locks)}{rest}: lock them together, or stop "
            "keeping buildings together"
        )
        raise PlanError(msg)
