"""Partition each CCG's practices into contiguous PCNs with one OR-Tools CP-SAT model.

The model (per CCG, CCGs being independent):

- each group is a tree of practices rooted at one practice; ``arc[i, j]`` says that
  ``i`` is ``j``'s parent, and every non-root practice has exactly one parent;
- a single-commodity flow measured in patients runs down the trees: a root supplies
  its group's list size, every practice consumes its own list size, and flow uses
  only chosen arcs. A cycle of parent arcs would have to feed itself, which
  conservation forbids (every list size is positive), so the parent arcs form a
  forest and every group is connected in the adjacency graph (bridges included);
- ``label[i]`` is the index of the root of ``i``'s group, copied along every arc, so
  objectives can ask whether two practices share a group (split buildings, moves);
- compactness is the patient-distance along each tree to its root, whose placement is
  freed (from the smallest index to anywhere) in the compactness stage.

Plan, repair, stranding and alternatives differ only in what is locked and in the
objective stages (:data:`footprint.config.STAGES`), minimised one after another: each
stage is solved, its value is fixed as a constraint, and the next starts from the
previous solution (``add_hint``). The first stage starts from optimal cuts of spanning
trees repaired by recombination (see :func:`_warm_start`); a stage whose start already
meets a bound no plan can beat is proven without search.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model
from scipy.optimize import linear_sum_assignment

from footprint.config import Rules, SolveOptions
from footprint.errors import InfeasibleError, PlanError
from footprint.graph import WITHIN_CCG
from footprint.plan import Plan

__all__ = ["CcgResult", "StageResult", "solve_plan"]

logger = logging.getLogger(__name__)

#: Arc lengths in the compactness stage are in units of 100 m.
_DIST_UNIT_M = 100.0
#: Group centres are chosen by list size in units of 100 patients.
_SIZE_UNIT = 100


@dataclass(frozen=True)
class StageResult:
    """The outcome of one objective stage in one CCG."""

    name: str
    value: float
    bound: float
    status: str
    seconds: float

    @property
    def proven(self) -> bool:
        """Whether the stage's value is proven optimal (bound met)."""
        return self.status == "OPTIMAL"


@dataclass(frozen=True)
class CcgResult:
    """How one CCG was planned.

    ``status`` is ``OPTIMAL`` when every stage was proven optimal, else ``FEASIBLE``.
    ``explanations`` says, per out-of-band group (keyed by PCN id), which practices and why.
    """

    ccg_code: str
    status: str
    stages: tuple[StageResult, ...]
    seconds: float
    groups: int
    out_of_band: int
    split_sites: int
    explanations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the result as plain data for JSON."""
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "groups": self.groups,
            "out_of_band": self.out_of_band,
            "split_sites": self.split_sites,
            "stages": [
                {
                    "stage": s.name,
                    "value": s.value,
                    "bound": s.bound,
                    "status": s.status,
                    "seconds": round(s.seconds, 3),
                }
                for s in self.stages
            ],
            "explanations": dict(self.explanations),
        }


@dataclass
class _Instance:
    """One CCG's planning problem, in plain arrays (picklable for worker processes)."""

    ccg: str
    codes: list[str]
    names: list[str]
    sizes: list[int]
    xy: np.ndarray
    edges: list[tuple[int, int]]
    bridges: dict[tuple[int, int], float]
    sites: list[list[int]]
    big: list[bool]
    rural: list[bool]
    locked: list[list[int]]
    current: list[int] | None
    low: int
    high: int
    floor: int

    @property
    def n(self) -> int:
        return len(self.codes)

    def deviation(self, total: int, *, rural: bool) -> int:
        """Return how many patients a group of ``total`` lies outside the band (0 in band).

        A group of only rural practices is in band from the rural floor.
        """
        floor = self.floor if rural else self.low
        return max(floor - total, total - self.high, 0)

    def is_rural(self, members: Iterable[int]) -> bool:
        """Return whether every practice of ``members`` is rural."""
        return all(self.rural[i] for i in members)

    def neighbours(self) -> list[list[int]]:
        adj: list[list[int]] = [[] for _ in range(self.n)]
        for i, j in self.edges:
            adj[i].append(j)
            adj[j].append(i)
        return adj


def solve_plan(
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    rural: Iterable[str] = (),
    lock: Plan | None = None,
    current: Plan | None = None,
    allow_cross: Mapping[str, str] | None = None,
    ccgs: Sequence[str] | None = None,
    progress: Callable[[CcgResult], None] | None = None,
) -> Plan:
    """Return a plan of contiguous PCNs for every practice of the graph's CCGs.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`.
    rules
        Band, rural and building rules and the objective stages.
    options
        Time limits, workers, processes and seed.
    rural
        Codes of practices flagged rural (may form a group down to ``rules.rural_floor``).
    lock
        Agreed groups: every practice with a PCN id here keeps exactly that group.
    current
        The current PCNs, needed by the ``moves`` stage.
    allow_cross
        Practice code to the code of a neighbouring CCG whose network it may join.
    ccgs
        Only plan these CCGs (default: every CCG in the graph).
    progress
        Called with each CCG's result as it finishes.

    Returns
    -------
    Plan
        Every practice of the CCGs planned, with PCN ids ``<CCG>-<nn>`` unique across
        England; ``plan.info["ccgs"]`` maps CCG code to :class:`CcgResult`.

    Raises
    ------
    PlanError
        If a lock or ``allow_cross`` entry cannot be honoured (names the practices).
    InfeasibleError
        If no plan meets the hard rules (e.g. ``keep_sites`` with a lock that splits a building).

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> graph = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> plan = solve_plan(graph, options=SolveOptions(processes=1))
    >>> plan.info["ccgs"]["00Q"].stages[0].status
    'OPTIMAL'
    """
    rules = rules or Rules()
    options = options or SolveOptions()
    if "moves" in rules.stages and current is None:
        msg = "the moves stage needs the current PCNs: pass current=plan_from_practices(practices)"
        raise PlanError(msg)
    instances = _instances(
        graph,
        rules=rules,
        rural=set(rural),
        lock=lock,
        current=current,
        allow_cross=allow_cross or {},
        ccgs=ccgs,
    )
    instances.sort(key=lambda inst: -inst.n)  # largest first balances the processes
    results: dict[str, tuple[dict[str, str], CcgResult]] = {}
    if options.processes == 1 or len(instances) == 1:
        for inst in instances:
            results[inst.ccg] = _solve_instance(inst, rules, options)
            if progress is not None:
                progress(results[inst.ccg][1])
    else:
        with ProcessPoolExecutor(max_workers=options.processes) as pool:
            futures = {pool.submit(_solve_instance, inst, rules, options): inst.ccg for inst in instances}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(results[futures[future]][1])
    assignment: dict[str, str | None] = {}
    info: dict[str, CcgResult] = {}
    for ccg in sorted(results):
        groups, info[ccg] = results[ccg]
        assignment.update(groups)
    return Plan(assignment, {"ccgs": info})


def _group_ids(inst: _Instance, labels: Sequence[int]) -> dict[int, str]:
    """Name groups ``<CCG>-01``, ``<CCG>-02``, ... in order of their smallest practice code."""
    first: dict[int, str] = {}
    for i, label in enumerate(labels):
        if label not in first or inst.codes[i] < first[label]:
            first[label] = inst.codes[i]
    order = sorted(first, key=lambda label: first[label])
    return {label: f"{inst.ccg}-{k + 1:02d}" for k, label in enumerate(order)}


# --------------------------------------------------------------------------------------
# Data: one instance per CCG
# --------------------------------------------------------------------------------------


def _instances(
    graph: nx.Graph,
    *,
    rules: Rules,
    rural: set[str],
    lock: Plan | None,
    current: Plan | None,
    allow_cross: Mapping[str, str],
    ccgs: Sequence[str] | None,
) -> list[_Instance]:
    home = dict(graph.nodes(data="ccg_code"))
    planning = dict(home)
    for code, target in allow_cross.items():
        target = target.strip().upper()
        if code not in graph:
            msg = f"--allow-cross names practice {code}, which is not in the practices file"
            raise PlanError(msg)
        neighbours = [n for n in graph[code] if home[n] == target]
        if not neighbours:
            msg = (
                f"--allow-cross lets {code} ({graph.nodes[code]['practice_name']}, CCG {home[code]}) "
                "join CCG "
                f"{target}, but none of its neighbouring practices is in {target}; name a neighbouring CCG"
            )
            raise PlanError(msg)
        planning[code] = target
    wanted = sorted(set(planning.values())) if not ccgs else sorted({c.strip().upper() for c in ccgs})
    by_ccg: dict[str, list[str]] = {}
    for code, ccg in planning.items():
        by_ccg.setdefault(ccg, []).append(code)
    locked_groups = _locked_groups(lock, planning)
    current_ids = {}
    if current is not None:
        current_ids = {pcn: k for k, pcn in enumerate(sorted({p for p in current.assignment.values() if p}))}
    instances = []
    for ccg in wanted:
        codes = sorted(by_ccg.get(ccg, []))
        if not codes:
            continue
        index = {c: i for i, c in enumerate(codes)}
        edges, bridge_km, site_edges = [], {}, []
        for a, b, data in graph.subgraph(codes).edges(data=True):
            kind = data["type"]
            crossing = home[a] != home[b]
            if kind not in WITHIN_CCG and not crossing:
                continue
            if kind == "cross_ccg" and not (crossing and (a in allow_cross or b in allow_cross)):
                continue
            i, j = sorted((index[a], index[b]))
            edges.append((i, j))
            if kind == "bridge":
                bridge_km[i, j] = float(data["length_km"])
            if kind == "site":
                site_edges.append((i, j))
        site_graph = nx.Graph(site_edges)
        sites = sorted(sorted(c) for c in nx.connected_components(site_graph))
        sizes = [int(graph.nodes[c]["list_size"]) for c in codes]
        big = [not rules.big_may_merge and s > rules.band.high for s in sizes]
        rural_ccg = ccg in rules.rural_ccgs
        inst_current = None
        if current is not None:
            inst_current = [current_ids.get(current.assignment.get(c) or "", -1) for c in codes]
        instances.append(
            _Instance(
                ccg=ccg,
                codes=codes,
                names=[str(graph.nodes[c].get("practice_name", "")) for c in codes],
                sizes=sizes,
                xy=np.array([[graph.nodes[c]["x"], graph.nodes[c]["y"]] for c in codes]),
                edges=sorted(set(edges)),
                bridges=bridge_km,
                sites=sites,
                big=big,
                rural=[rural_ccg or c in rural for c in codes],
                locked=[sorted(index[c] for c in group) for g_ccg, group in locked_groups if g_ccg == ccg],
                current=inst_current,
                low=rules.band.low,
                high=rules.band.high,
                floor=rules.rural_floor,
            )
        )
        _check_locks_connected(instances[-1])
    return instances


def _locked_groups(lock: Plan | None, planning: Mapping[str, str]) -> list[tuple[str, list[str]]]:
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
                "unless --allow-cross lets those practices join the other CCG"
            )
            raise PlanError(msg)
        groups.append((ccgs[0], sorted(members)))
    return groups


def _check_locks_connected(inst: _Instance) -> None:
    adjacency = nx.Graph(inst.edges)
    adjacency.add_nodes_from(range(inst.n))
    for group in inst.locked:
        parts = list(nx.connected_components(adjacency.subgraph(group)))
        if len(parts) > 1:
            pieces = "; ".join(", ".join(inst.codes[i] for i in sorted(p)) for p in parts)
            msg = (
                f"a locked group in CCG {inst.ccg} is not contiguous: its practices fall into "
                f"{len(parts)} pieces ({pieces}); fix the lock file or unlock those practices"
            )
            raise PlanError(msg)


# --------------------------------------------------------------------------------------
# Warm start: optimal cuts of spanning trees
# --------------------------------------------------------------------------------------

#: Patients per step of the tree partitioner's size grid.
_GRID = 250
#: Weight of one out-of-band group against one patient of deviation in the heuristic.
_OUT_WEIGHT = 1e9


def _units(inst: _Instance) -> tuple[list[int], set[int]]:
    """Return a unit per practice (buildings and locked groups as one) and the fixed units.

    Practices over the band (unless allowed to merge) and locked groups are fixed: they
    form groups of their own and take no part in the search.
    """
    unit = list(range(inst.n))

    def find(i: int) -> int:
        while unit[i] != i:
            unit[i] = unit[unit[i]]
            i = unit[i]
        return i

    fixed = {i for i in range(inst.n) if inst.big[i]}
    for group in inst.locked:
        for i in group[1:]:
            unit[find(i)] = find(group[0])
    locked = {find(g[0]) for g in inst.locked}
    for site in inst.sites:
        free = [i for i in site if not inst.big[i] and find(i) not in locked]
        for i in free[1:]:
            unit[find(i)] = find(free[0])
    return [find(i) for i in range(inst.n)], fixed | locked


def _warm_start(inst: _Instance, *, seed: int, trees: int = 4) -> list[int]:
    """Return a good grouping (a label per practice) to start the solver from.

    Buildings stay together. The free units of each connected part are joined by a
    spanning tree, and a dynamic programme over the tree finds the cuts that give the
    fewest out-of-band groups, then the least deviation, on a 250-patient size grid. The
    first tree is the shortest (compact groups); the others use random weights.
    """
    units, fixed = _units(inst)
    sizes: dict[int, int] = {}
    rural: dict[int, bool] = {}
    for i, u in enumerate(units):
        sizes[u] = sizes.get(u, 0) + inst.sizes[i]
        rural[u] = rural.get(u, True) and inst.rural[i]
    free = nx.Graph()
    free.add_nodes_from(u for u in sizes if u not in fixed)
    for i, j in inst.edges:
        a, b = units[i], units[j]
        if a != b and a not in fixed and b not in fixed:
            km = float(np.hypot(*(inst.xy[i] - inst.xy[j])))
            if not free.has_edge(a, b) or km < free[a][b]["km"]:
                free.add_edge(a, b, km=km)
    rng = np.random.default_rng(seed)
    label = {u: u for u in sizes}
    for part in nx.connected_components(free):
        sub = free.subgraph(part)
        best: tuple[float, dict[int, int]] | None = None
        for t in range(trees if len(part) > 2 else 1):
            weighted = nx.Graph()
            weighted.add_nodes_from(sub)
            weighted.add_weighted_edges_from(
                (a, b, d["km"] if t == 0 else rng.random()) for a, b, d in sorted(sub.edges(data=True))
            )
            tree = nx.minimum_spanning_tree(weighted)
            cost, groups = _cut_tree(tree, sizes, rural, inst)
            if best is None or cost < best[0]:
                best = (cost, groups)
        assert best is not None
        label.update(best[1])
    _recombine(inst, free, sizes, rural, label, rng)
    return [label[units[i]] for i in range(inst.n)]


def _cost(inst: _Instance, size: int, rural: bool) -> float:
    """Return the heuristic's cost of one group: a weight if out of band, plus its deviation."""
    deviation = inst.deviation(size, rural=rural)
    return deviation + _OUT_WEIGHT * (deviation > 0)


def _recombine(
    inst: _Instance,
    free: nx.Graph,
    sizes: Mapping[int, int],
    rural: Mapping[int, bool],
    label: dict[int, int],
    rng: np.random.Generator,
    *,
    rounds_per_group: int = 12,
) -> None:
    """Repair out-of-band groups in place by recombination (after GerryChain's ReCom).

    An out-of-band group is merged with the groups around it (one ring, widening after
    repeated failures), a random spanning tree is drawn over the merged area, and the
    tree is re-cut optimally; the new groups are kept when they cost less.
    """

    def summary() -> tuple[dict[int, set[int]], dict[int, float]]:
        groups: dict[int, set[int]] = {}
        for u, g in label.items():
            if u in free:
                groups.setdefault(g, set()).add(u)
        costs = {
            g: _cost(inst, sum(sizes[u] for u in members), all(rural[u] for u in members))
            for g, members in groups.items()
        }
        return groups, costs

    groups, costs = summary()
    failures: dict[int, int] = {}
    budget = rounds_per_group * sum(c >= _OUT_WEIGHT for c in costs.values())
    for _ in range(budget):
        bad = sorted(
            g for g, c in costs.items() if c >= _OUT_WEIGHT and failures.get(g, 0) < rounds_per_group
        )
        if not bad:
            return
        g = bad[int(rng.integers(len(bad)))]
        area = {g}
        for _ring in range(1 + failures.get(g, 0) // 4):
            area |= {label[v] for u in set().union(*(groups[h] for h in area)) for v in free[u]}
        units = set().union(*(groups[h] for h in area))
        before = sum(costs[h] for h in area)
        weighted = nx.Graph()
        weighted.add_nodes_from(units)
        weighted.add_weighted_edges_from((a, b, rng.random()) for a, b in sorted(free.subgraph(units).edges))
        _, parts = _cut_tree(nx.minimum_spanning_tree(weighted), sizes, rural, inst)
        new: dict[int, list[int]] = {}
        for u, part in parts.items():
            new.setdefault(part, []).append(u)
        after = sum(_cost(inst, sum(sizes[u] for u in m), all(rural[u] for u in m)) for m in new.values())
        if after < before:
            for u, part in parts.items():
                label[u] = part
            groups, costs = summary()
            failures.pop(g, None)
        else:
            failures[g] = failures.get(g, 0) + 1


def _cut_tree(
    tree: nx.Graph, sizes: Mapping[int, int], rural: Mapping[int, bool], inst: _Instance
) -> tuple[float, dict[int, int]]:
    """Cut a tree of units into subtrees with the fewest out-of-band groups, then least deviation.

    A dynamic programme from the leaves up: a state is the size, in grid steps, of the
    group still open at a unit; each child's open group is either closed (the edge cut)
    or joined. The rural floor applies to groups whose units are all rural.
    """
    top = max(inst.high + inst.low // 2, max(sizes.values()) + _GRID)
    steps = top // _GRID + 1

    def closing(exact: np.ndarray, is_rural: bool) -> np.ndarray:
        floor = inst.floor if is_rural else inst.low
        deviation = np.maximum(np.maximum(floor - exact, exact - inst.high), 0)
        return deviation + _OUT_WEIGHT * (deviation > 0)

    root = min(tree)
    order = list(nx.dfs_postorder_nodes(tree, root))
    parent = {v: u for u, v in nx.dfs_edges(tree, root)}
    best: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    records: dict[int, list[tuple[int, np.ndarray, int]]] = {}
    rural_open: dict[int, bool] = {}
    for v in order:
        # cost[s]: least cost of closed groups when the open group has s grid steps;
        # exact[s]: that open group's exact list size (the grid only indexes states).
        cost = np.full(steps, np.inf)
        exact = np.zeros(steps)
        cost[round(sizes[v] / _GRID)] = 0.0
        exact[round(sizes[v] / _GRID)] = sizes[v]
        is_rural = rural[v]
        records[v] = []
        for c in (c for c in tree[v] if parent.get(c) == v):
            child, child_exact = best.pop(c)
            closed = child + closing(child_exact, rural_open[c])
            cut_state = int(np.argmin(closed))
            cut = cost + closed[cut_state]
            # Join: the open group of v absorbs the open group of c (a min-plus convolution);
            # groups past the top of the grid are never worth forming and are dropped.
            # join[s] = min over child states s2 of cost[s - s2] + child[s2], gathered at once.
            shifts = np.flatnonzero(np.isfinite(child))
            source = np.arange(steps)[None, :] - shifts[:, None]
            valid = source >= 0
            source = np.where(valid, source, 0)
            candidates = np.where(valid, cost[source] + child[shifts][:, None], np.inf)
            pick = np.argmin(candidates, axis=0)
            columns = np.arange(steps)
            join = candidates[pick, columns]
            join_from = shifts[pick]
            join_exact = exact[source[pick, columns]] + child_exact[join_from]
            take_join = join < cut
            records[v].append((c, np.where(take_join, join_from, -1), cut_state))
            cost = np.where(take_join, join, cut)
            exact = np.where(take_join, join_exact, exact)
            is_rural = is_rural and rural_open[c]
        best[v] = (cost, exact)
        rural_open[v] = is_rural
    cost, exact = best[root]
    final = cost + closing(exact, rural_open[root])
    state = int(np.argmin(final))
    total_cost = float(final[state])
    # Walk back down: undo each child's merge in reverse order.
    groups: dict[int, int] = {}
    stack = [(root, state, root)]
    while stack:
        v, s, label = stack.pop()
        groups[v] = label
        for c, join_from, cut_state in reversed(records[v]):
            s2 = int(join_from[s])
            if s2 < 0:
                stack.append((c, cut_state, c))
            else:
                stack.append((c, s2, label))
                s -= s2
    return total_cost, groups


# --------------------------------------------------------------------------------------
# The CP-SAT model
# --------------------------------------------------------------------------------------


class _Model:
    """The one CP-SAT model of a CCG, with an expression per objective stage."""

    def __init__(self, inst: _Instance, rules: Rules) -> None:
        # Data
        self.inst = inst
        n = inst.n
        sizes = inst.sizes
        total = sum(sizes)
        arcs = [(i, j) for i, j in inst.edges] + [(j, i) for i, j in inst.edges]
        self.arcs = arcs
        model = cp_model.CpModel()
        self.model = model

        # Variables
        self.root = {i: model.new_bool_var(f"root[{i}]") for i in range(n)}
        self.arc = {(i, j): model.new_bool_var(f"arc[{i},{j}]") for i, j in arcs}
        self.flow = {(i, j): model.new_int_var(0, total, f"flow[{i},{j}]") for i, j in arcs}
        self.supply = {i: model.new_int_var(0, total, f"supply[{i}]") for i in range(n)}
        self.label = {i: model.new_int_var(0, n - 1, f"label[{i}]") for i in range(n)}
        self.in_band = {i: model.new_bool_var(f"in_band[{i}]") for i in range(n)}
        self.out_band = {i: model.new_bool_var(f"out_of_band[{i}]") for i in range(n)}
        self.deviation = {i: model.new_int_var(0, max(total, inst.low), f"deviation[{i}]") for i in range(n)}
        self.rural_group = {
            i: model.new_bool_var(f"rural_group[{i}]") if inst.rural[i] else model.new_constant(0)
            for i in range(n)
        }
        # When true, each group's root is its smallest practice index (symmetry breaking);
        # the compactness stage frees it so the root can move to the group's centre.
        self.ordered_roots = model.new_bool_var("ordered_roots")
        into: dict[int, list[tuple[int, int]]] = {i: [] for i in range(n)}
        out_of: dict[int, list[tuple[int, int]]] = {i: [] for i in range(n)}
        for a in arcs:
            out_of[a[0]].append(a)
            into[a[1]].append(a)

        # Constraints
        for j in range(n):
            # Each practice is a root or has exactly one parent.
            model.add_exactly_one([self.root[j], *(self.arc[a] for a in into[j])])
            # Flow conservation: a root supplies its group, each practice consumes its list size.
            model.add(
                sum(self.flow[a] for a in into[j]) - sum(self.flow[a] for a in out_of[j]) + self.supply[j]
                == sizes[j]
            )
            # Only a root supplies, and at least its own list size.
            model.add(self.supply[j] == 0).only_enforce_if(self.root[j].Not())
            model.add(self.supply[j] >= sizes[j]).only_enforce_if(self.root[j])
            # A root labels itself; a non-root does not carry its own index.
            model.add(self.label[j] == j).only_enforce_if(self.root[j])
            model.add(self.label[j] != j).only_enforce_if(self.root[j].Not())
            # Symmetry breaking: the root is the smallest index of its group.
            model.add(self.label[j] <= j).only_enforce_if(self.ordered_roots)
            # A group is in band only through its root, and then its total lies in the band
            # (down to the rural floor for a group of rural practices).
            # A root is out of band unless in band (an inequality, so presolve keeps the count
            # as its own variables and the bound stays at least zero).
            model.add_implication(self.in_band[j], self.root[j])
            model.add(self.out_band[j] >= self.root[j] - self.in_band[j])
            model.add(self.supply[j] <= inst.high).only_enforce_if(self.in_band[j])
            model.add(
                self.supply[j] >= inst.low - (inst.low - inst.floor) * self.rural_group[j]
            ).only_enforce_if(self.in_band[j])
            # Deviation: patients below the (rural) floor or above the top of the band.
            model.add(
                self.deviation[j]
                >= inst.low * self.root[j] - (inst.low - inst.floor) * self.rural_group[j] - self.supply[j]
            )
            model.add(self.deviation[j] >= self.supply[j] - inst.high)
        for a in arcs:
            i, j = a
            # Flow runs only on chosen arcs, and a chosen arc carries at least the child's list size.
            model.add(self.flow[a] <= total * self.arc[a])
            model.add(self.flow[a] >= sizes[j] * self.arc[a])
            # A child carries its parent's label and rural status.
            model.add(self.label[j] == self.label[i]).only_enforce_if(self.arc[a])
            if inst.rural[i] or inst.rural[j]:
                model.add(self.rural_group[j] == self.rural_group[i]).only_enforce_if(self.arc[a])
        # Practices over the band stand alone (unless the rules let them merge).
        for i in range(n):
            if inst.big[i]:
                model.add(self.root[i] == 1)
                for a in into[i] + out_of[i]:
                    model.add(self.arc[a] == 0)
        # Locked groups keep exactly their members.
        for group in inst.locked:
            members = set(group)
            model.add(self.root[group[0]] == 1).only_enforce_if(self.ordered_roots)
            for i in range(n):
                if i in members:
                    model.add(self.label[i] == self.label[group[0]])
                else:
                    model.add(self.label[i] != self.label[group[0]])
        # Practices in one building share a group (hard rule, or counted as split).
        self.split: list[cp_model.IntVar] = []
        self.split_of: dict[tuple[int, ...], cp_model.IntVar] = {}
        for site in inst.sites:
            movable = [i for i in site if not inst.big[i]]
            if len(movable) < 2:
                continue
            if rules.keep_sites:
                for i in movable[1:]:
                    model.add(self.label[i] == self.label[movable[0]])
                continue
            split = model.new_bool_var(f"split[{movable[0]}]")
            for i in movable[1:]:
                model.add(self.label[i] == self.label[movable[0]]).only_enforce_if(split.Not())
            self.split.append(split)
            self.split_of[tuple(movable)] = split

        # Objective stages
        d = np.hypot(*(inst.xy[:, None, :] - inst.xy[None, :, :]).transpose(2, 0, 1)) / _DIST_UNIT_M
        self.unit_cost = np.rint(d * np.maximum(np.array(sizes) // _SIZE_UNIT, 1)[:, None]).astype(int)
        self.length = {(i, j): max(1, round(float(d[i, j]))) for i, j in arcs}
        self.match: dict[int, cp_model.IntVar] = {}
        self.stay: dict[int, cp_model.IntVar] = {}
        self.stage_expr: dict[str, cp_model.LinearExprT] = {
            "out_of_band": sum(self.out_band.values()),
            "deviation": sum(self.deviation.values()),
            "split_sites": sum(self.split),
            # Patient-distance along each group's tree to its root: every patient "travels"
            # the tree from the root to their practice (a flow-based compactness).
            "compactness": sum(self.length[a] * self.flow[a] for a in arcs),
        }
        if "moves" in rules.stages:
            self.stage_expr["moves"] = self._moves()

    def _moves(self) -> cp_model.LinearExprT:
        """Practices not left in the group matched to their current PCN (transfer distance)."""
        inst, model = self.inst, self.model
        assert inst.current is not None
        pcns = sorted({c for c in inst.current if c >= 0})
        n = inst.n
        # match[c] is the root index of the group matched to current PCN c, or a dummy value n + k.
        self.match = {c: model.new_int_var(0, n + len(pcns) - 1, f"match[{c}]") for c in pcns}
        if len(pcns) > 1:
            model.add_all_different(list(self.match.values()))
        for i, c in enumerate(inst.current):
            if c < 0:
                continue
            stay = model.new_bool_var(f"stay[{i}]")
            model.add(self.label[i] == self.match[c]).only_enforce_if(stay)
            self.stay[i] = stay
        return len(self.stay) - sum(self.stay.values())

    # ----------------------------------------------------------------------------------
    # Hints
    # ----------------------------------------------------------------------------------

    def hint(self, model: cp_model.CpModel, labels: Sequence[int], *, centre_roots: bool) -> None:
        """Hint every variable of ``model`` (a clone) from a grouping (any label values)."""
        inst = self.inst
        groups = _members(labels)
        root_of, parent = _forest(self, labels, centre_roots=centre_roots)
        roots = sorted(set(root_of))
        subtree = _subtree_sizes(inst, parent)
        root_set = set(roots)
        for i in range(inst.n):
            model.add_hint(self.root[i], i in root_set)
            model.add_hint(self.label[i], root_of[i])
            model.add_hint(self.supply[i], subtree[i] if i in root_set else 0)
        for i, j in self.arcs:
            chosen = parent.get(j) == i
            model.add_hint(self.arc[i, j], chosen)
            model.add_hint(self.flow[i, j], subtree[j] if chosen else 0)
        for r in roots:
            members = groups[labels[r]]
            rural = inst.is_rural(members)
            gap = inst.deviation(subtree[r], rural=rural)
            for i in members:
                if inst.rural[i]:
                    model.add_hint(self.rural_group[i], rural)
                model.add_hint(self.deviation[i], gap if i == r else 0)
            model.add_hint(self.in_band[r], gap == 0)
            model.add_hint(self.out_band[r], gap > 0)
        for i in set(range(inst.n)) - root_set:
            model.add_hint(self.in_band[i], False)
            model.add_hint(self.out_band[i], False)
        for site, split in self.split_of.items():
            model.add_hint(split, len({root_of[i] for i in site}) > 1)
        if self.stay:
            assert inst.current is not None
            matched = _match(inst, root_of)
            dummy = iter(range(inst.n, inst.n + len(self.match)))
            for c, var in self.match.items():
                model.add_hint(var, matched[c] if c in matched else next(dummy))
            for i, stay in self.stay.items():
                model.add_hint(stay, matched.get(inst.current[i]) == root_of[i])
        model.add_hint(self.ordered_roots, not centre_roots)

    def labels(self, solver: cp_model.CpSolver) -> list[int]:
        """Read the grouping (root index per practice) from a solution."""
        return [int(solver.value(self.label[i])) for i in range(self.inst.n)]


def _match(inst: _Instance, root_of: Sequence[int]) -> dict[int, int]:
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


def _members(labels: Sequence[int]) -> dict[int, list[int]]:
    """Return each group label's practice indices, in index order."""
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return groups


def _forest(m: _Model, labels: Sequence[int], *, centre_roots: bool) -> tuple[list[int], dict[int, int]]:
    """Return each practice's root and parent: per group, a shortest-path tree from its root.

    The root is the group's smallest index, or with ``centre_roots`` its centre.
    """
    inst = m.inst
    groups = _members(labels)
    centres = _centres(m, labels) if centre_roots else None
    adjacency = nx.Graph()
    adjacency.add_weighted_edges_from((i, j, m.length[i, j]) for i, j in inst.edges)
    root_of = [0] * inst.n
    parent: dict[int, int] = {}
    for members in groups.values():
        root = centres[members[0]] if centres is not None else min(members)
        sub = adjacency.subgraph(members)
        if len(members) > 1:
            paths = nx.single_source_dijkstra_path(sub, root)
            if len(paths) != len(members):
                msg = f"internal: group {sorted(members)} of {inst.ccg} is not connected"
                raise AssertionError(msg)
            parent.update((path[-1], path[-2]) for path in paths.values() if len(path) > 1)
        for i in members:
            root_of[i] = root
    return root_of, parent


def _subtree_sizes(inst: _Instance, parent: Mapping[int, int]) -> list[int]:
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


def _centres(m: _Model, labels: Sequence[int]) -> list[int]:
    """Return, per practice, its group's centre: the member nearest the others, list-weighted."""
    groups = _members(labels)
    centre_of = [0] * m.inst.n
    for members in groups.values():
        block = m.unit_cost[np.ix_(members, members)].sum(axis=0)
        centre = members[int(np.argmin(block))]
        for i in members:
            centre_of[i] = centre
    return centre_of


def _stage_values(m: _Model, labels: Sequence[int]) -> dict[str, float]:
    """Evaluate every objective stage of a grouping in plain Python (as the model counts it)."""
    inst = m.inst
    groups = _members(labels)
    out, deviation = 0, 0
    for members in groups.values():
        gap = inst.deviation(sum(inst.sizes[i] for i in members), rural=inst.is_rural(members))
        out += gap > 0
        deviation += gap
    centres, parent = _forest(m, labels, centre_roots=True)
    subtree = _subtree_sizes(inst, parent)
    compact = sum(m.length[up, v] * subtree[v] for v, up in parent.items())
    split = sum(len({labels[i] for i in site}) > 1 for site in m.split_of)
    values = {"out_of_band": out, "deviation": deviation, "split_sites": split, "compactness": compact}
    if inst.current is not None:
        matched = _match(inst, centres)
        assigned = [i for i, c in enumerate(inst.current) if c >= 0]
        values["moves"] = sum(matched.get(inst.current[i]) != centres[i] for i in assigned)
    return {k: float(v) for k, v in values.items()}


def _polish(m: _Model, labels: Sequence[int], *, keep: Sequence[str], passes: int = 4) -> list[int]:
    """Make groups more compact by moving boundary practices between in-band groups.

    A move takes a practice (with any building-mates in its group) to a neighbouring group
    when both groups stay in band, the group it leaves stays connected, and the groups'
    list-weighted moment of inertia (sum of list size times squared distance to the
    group's centre) falls. Practices over the band and locked groups never move. The
    result is kept only if no earlier stage in ``keep`` gets worse.
    """
    inst = m.inst
    original, labels = list(labels), list(labels)
    before = _stage_values(m, labels)
    adjacency = inst.neighbours()
    w = np.array(inst.sizes, dtype=float)
    x, y = inst.xy[:, 0] / 1000, inst.xy[:, 1] / 1000
    frozen = {i for i in range(inst.n) if inst.big[i]} | {i for g in inst.locked for i in g}
    frozen_groups = {labels[i] for i in frozen}
    mates: dict[int, list[int]] = {}
    for site in inst.sites:
        for i in site:
            mates[i] = [j for j in site if j != i]
    members: dict[int, set[int]] = {}
    for i, g in enumerate(labels):
        members.setdefault(g, set()).add(i)
    # Per group: total list size, sums of w*x, w*y and w*(x^2+y^2) for the moment of inertia.
    stats = {
        g: [
            w[list(s)].sum(),
            (w * x)[list(s)].sum(),
            (w * y)[list(s)].sum(),
            (w * (x * x + y * y))[list(s)].sum(),
        ]
        for g, s in members.items()
    }

    def inertia(t: Sequence[float]) -> float:
        return t[3] - (t[1] ** 2 + t[2] ** 2) / t[0] if t[0] > 0 else 0.0

    def in_band(g: int, total: float) -> bool:
        return inst.deviation(round(total), rural=inst.is_rural(members[g])) == 0

    for _ in range(passes):
        moved = False
        for i in range(inst.n):
            g = labels[i]
            if i in frozen or g in frozen_groups:
                continue
            unit = [i, *(j for j in mates.get(i, []) if labels[j] == g)]
            if len(unit) == len(members[g]):
                continue
            delta = np.array(
                [w[unit].sum(), (w * x)[unit].sum(), (w * y)[unit].sum(), (w * (x * x + y * y))[unit].sum()]
            )
            targets = {labels[j] for u in unit for j in adjacency[u]} - {g} - frozen_groups
            best, gain = None, 1e-9
            for h in sorted(targets):
                donor, taker = np.array(stats[g]) - delta, np.array(stats[h]) + delta
                if not (in_band(g, stats[g][0]) and in_band(h, stats[h][0])):
                    continue
                if not (in_band(g, donor[0]) and in_band(h, taker[0])):
                    continue
                change = inertia(stats[g]) + inertia(stats[h]) - inertia(donor) - inertia(taker)
                if change > gain:
                    best, gain = h, change
            if best is None:
                continue
            rest = members[g] - set(unit)
            left = nx.Graph((a, b) for a in rest for b in adjacency[a] if b in rest)
            left.add_nodes_from(rest)
            if not nx.is_connected(left):
                continue
            for u in unit:
                labels[u] = best
            members[g] -= set(unit)
            members[best] |= set(unit)
            stats[g] = list(np.array(stats[g]) - delta)
            stats[best] = list(np.array(stats[best]) + delta)
            moved = True
        if not moved:
            break
    after = _stage_values(m, labels)
    return original if any(after[s] > before[s] for s in keep) else labels


def _lower_bounds(inst: _Instance) -> dict[str, float]:
    """Return bounds no plan can beat: what practices over the band and locked groups force."""
    forced = [[i] for i in range(inst.n) if inst.big[i]] + [list(g) for g in inst.locked]
    out = deviation = 0
    for members in forced:
        gap = inst.deviation(sum(inst.sizes[i] for i in members), rural=inst.is_rural(members))
        out += gap > 0
        deviation += gap
    return {"out_of_band": out, "deviation": deviation, "split_sites": 0, "moves": 0}


def _solver(options: SolveOptions, limit: float, workers: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = workers
    params.random_seed = options.seed
    if options.deterministic:
        params.max_deterministic_time = limit
        if workers > 1:
            params.interleave_search = True
    else:
        params.max_time_in_seconds = limit
    if logger.isEnabledFor(logging.DEBUG):
        params.log_search_progress = True
        params.log_to_stdout = False
        solver.log_callback = logger.debug
    if options.params:
        from google.protobuf import text_format

        text_format.Merge(options.params, params)
    return solver


_STATUS = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
    cp_model.UNKNOWN: "UNKNOWN",
}


def _solve_instance(inst: _Instance, rules: Rules, options: SolveOptions) -> tuple[dict[str, str], CcgResult]:
    """Solve one CCG stage by stage; return practice code to PCN id, and the result."""
    start = time.perf_counter()
    labels = _warm_start(inst, seed=options.seed)
    m = _Model(inst, rules)
    lower = _lower_bounds(inst)
    stages: list[StageResult] = []
    for k, stage in enumerate(rules.stages):
        if stage == "compactness":
            labels = _polish(m, labels, keep=rules.stages[:k])
        value = _stage_values(m, labels)[stage]
        if value <= lower.get(stage, -1):
            # The warm start meets a bound no plan can beat: proven without search.
            stages.append(StageResult(stage, value, value, "OPTIMAL", 0.0))
            m.model.add(m.stage_expr[stage] <= round(value))
            continue
        # Roots are ordered (symmetry breaking) until compactness lets them move to the centre.
        centre = "compactness" in rules.stages[: k + 1]
        stage_model = m.model.clone()
        stage_model.add(m.ordered_roots == int(not centre))
        expr = m.stage_expr[stage]
        m.hint(stage_model, labels, centre_roots=centre)
        stage_model.minimize(expr)
        # Stage 1 reaches the solver only where the warm start missed the bound: there the
        # portfolio (large-neighbourhood search beside the tree search) needs two workers.
        limit = options.proof_limit_s if k == 0 else options.time_limit_s
        solver = _solver(options, limit, max(options.workers, 2) if k == 0 else options.workers)
        t0 = time.perf_counter()
        status = solver.solve(stage_model)
        seconds = time.perf_counter() - t0
        name = _STATUS.get(status, str(status))
        if status in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
            msg = (
                f"CCG {inst.ccg}: no plan meets the hard rules (CP-SAT says {name} at stage {stage}); "
                "the likely binding rule is a lock, or --keep-sites where a lock or a big practice splits a "
                "building: relax one"
            )
            raise InfeasibleError(msg)
        if status == cp_model.UNKNOWN:  # no solution within the limit: keep the previous one
            value = _stage_values(m, labels)[stage]
            bound = float(solver.best_objective_bound)
            stages.append(StageResult(stage, value, min(bound, value), "FEASIBLE", seconds))
        else:
            labels = m.labels(solver)
            stages.append(
                StageResult(
                    stage, float(solver.objective_value), float(solver.best_objective_bound), name, seconds
                )
            )
        # Fix this stage's value for the stages after it.
        m.model.add(expr <= round(stages[-1].value))
        logger.debug(
            "%s stage %s: %s value %s bound %s", inst.ccg, stage, name, stages[-1].value, stages[-1].bound
        )
    if not stages[0].proven:
        logger.warning(
            "%s: fewest out-of-band groups not proven within %.0f s (found %s, bound %s)",
            inst.ccg,
            options.proof_limit_s,
            stages[0].value,
            stages[0].bound,
        )
    ids = _group_ids(inst, labels)
    values = _stage_values(m, labels)
    result = CcgResult(
        ccg_code=inst.ccg,
        status="OPTIMAL" if all(s.proven for s in stages) else "FEASIBLE",
        stages=tuple(stages),
        seconds=time.perf_counter() - start,
        groups=len(ids),
        out_of_band=int(values["out_of_band"]),
        split_sites=int(values["split_sites"]),
        explanations=_explain(inst, labels, ids, stages[0]),
    )
    return {code: ids[labels[i]] for i, code in enumerate(inst.codes)}, result


def _explain(
    inst: _Instance, labels: Sequence[int], ids: Mapping[int, str], stage1: StageResult
) -> dict[str, str]:
    """Say, for each out-of-band group, which practices and why, in planner terms."""
    groups = _members(labels)
    total = {g: sum(inst.sizes[i] for i in members) for g, members in groups.items()}
    neighbours: dict[int, dict[int, tuple[float, int, int]]] = {g: {} for g in groups}
    for i, j in inst.edges:
        a, b = labels[i], labels[j]
        if a == b:
            continue
        km = float(np.hypot(*(inst.xy[i] - inst.xy[j])) / 1000)
        for g, h, p, q in ((a, b, i, j), (b, a, j, i)):
            if h not in neighbours[g] or km < neighbours[g][h][0]:
                neighbours[g][h] = (km, p, q)
    proof = (
        f"CP-SAT proved no plan of {inst.ccg} has fewer than {stage1.value:.0f} out-of-band group(s)"
        if stage1.proven
        else f"the best plan found has {stage1.value:.0f} out-of-band group(s) (bound {stage1.bound:.0f})"
    )
    notes = {}
    for g, members in groups.items():
        rural = inst.is_rural(members)
        floor = inst.floor if rural else inst.low
        if inst.deviation(total[g], rural=rural) == 0:
            continue
        if len(members) == 1 and inst.big[members[0]]:
            i = members[0]
            notes[ids[g]] = (
                f"{inst.names[i]} ({inst.codes[i]}) has {inst.sizes[i]:,} patients, over {inst.high:,} "
                "on its own: it stands alone as its own PCN (--big-may-merge lets it absorb small neighbours)"
            )
            continue
        who = ", ".join(f"{inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,})" for i in sorted(members))
        side = (
            f"below the {'rural floor' if rural else 'band'} of {floor:,}"
            if total[g] < floor
            else (f"above the band's top of {inst.high:,}")
        )
        parts = [f"{len(members)} practice(s) total {total[g]:,}, {side}: {who}"]
        near = sorted(neighbours[g].items(), key=lambda item: item[1][0])[:3]
        for h, (km, p, q) in near:
            bridge = inst.bridges.get((min(p, q), max(p, q)))
            link = f"a {bridge:.1f} km bridge" if bridge is not None else f"{km:.1f} km"
            alone = " alone, over the band" if len(groups[h]) == 1 and inst.big[groups[h][0]] else ""
            parts.append(
                f"neighbour {ids[h]} ({total[h]:,}{alone}) is {link} away ({inst.names[p]} to "
                f"{inst.names[q]}); together {total[g] + total[h]:,}"
            )
        if not near:
            parts.append("no neighbouring group in its CCG")
        parts.append(proof)
        notes[ids[g]] = "; ".join(parts)
    return notes
