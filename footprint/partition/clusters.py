"""Clinical-director clusters: the partition model run on the graph of PCNs.

Neighbouring PCNs may share one clinical director (CD). A *cluster* is a connected set of
PCNs sharing one CD, based at one practice of one of its PCNs. This is the same model as
a plan's, on other nodes: the nodes are PCNs with their patients, the groups are the
rooted trees of :func:`footprint.partition.model.add_forest` (so every cluster is
connected), and the root of each tree is the PCN that holds the cluster's base. The rules
a cluster needs are added as builders:

- :func:`add_bases`: one base per shared cluster, from the bases of its root PCN, and every
  member within reach of it (the largest base-to-member distance rule: the caller's
  ``reach`` lists only the pairs within the distance limit);
- :func:`add_cluster_limits`: PCNs, patients and practices per shared cluster.

A PCN alone keeps its own CD: the limits do not apply to it, so keeping every PCN alone is
always feasible (and is where the search could start; it starts from the optimal pairing).

The stages (:data:`CLUSTER_STAGES`), minimised one after another as in
:func:`footprint.partition.solve.run_stages`, each value fixed for the next:

``clusters``
    CD posts: the number of clusters, PCNs alone included;
``patient_metres``
    patients times metres from each practice to its CD base, summed (the list-weighted mean
    distance to the base, times the patients, who are fixed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import networkx as nx
from ortools.sat.python import cp_model

from footprint._pool import imap_unordered, in_process
from footprint.config import Rules, SolveOptions
from footprint.errors import DataError, InfeasibleError
from footprint.partition._instance import Instance, subtree_sizes
from footprint.partition.model import Forest, add_forest
from footprint.partition.solve import STATUS, solver_from_options
from footprint.partition.stages import StageResult
from footprint.plan import Plan

__all__ = [
    "CLUSTER_STAGES",
    "ClusterModel",
    "add_bases",
    "add_cluster_limits",
    "cluster_groups",
    "instance_from_pcns",
]

logger = logging.getLogger(__name__)

#: The objective stages of a CD arrangement, in order.
CLUSTER_STAGES = ("clusters", "patient_metres")


# --------------------------------------------------------------------------------------
# Data: one component of PCNs, who may serve whom
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    max_pcns: int
    max_patients: int | None
    max_practices: int | None

    def allows(self, patients: int, practices: int) -> bool:
        return (self.max_patients is None or patients <= self.max_patients) and (
            self.max_practices is None or practices <= self.max_practices
        )


@dataclass
class _Reach:
    """Who may serve whom in one component (PCNs by instance index).

    ``owner[b]`` is the PCN of base practice ``b`` (only bases within reach of their own
    PCN); ``cost[i, b]`` the patient-metres from ``b`` to PCN ``i`` (its own PCN included);
    ``alone_base``/``alone_cost`` each PCN's base and patient-metres when it keeps its own CD.
    """

    owner: dict[str, int] = field(default_factory=dict)
    cost: dict[tuple[int, str], int] = field(default_factory=dict)
    alone_base: list[str] = field(default_factory=list)
    alone_cost: list[int] = field(default_factory=list)

    def members(self, b: str) -> list[int]:
        """Return the PCNs base ``b`` may serve, other than its own."""
        return [i for (i, c) in self.cost if c == b and i != self.owner[b]]


def instance_from_pcns(pcns: nx.Graph, nodes: Sequence[str], *, name: str = "") -> Instance:
    """Return the partition instance of the PCNs ``nodes`` (sorted): nodes are PCNs with their patients.

    The instance has no sites, locks, rural or big members; its band (``Rules()``) is
    unused by the cluster builders. Positions are zero: the cluster model measures
    distance from the base by the caller's reach table, not along the trees.
    """
    codes = sorted(nodes)
    index = {p: i for i, p in enumerate(codes)}
    edges = sorted({tuple(sorted((index[a], index[b]))) for a, b in pcns.subgraph(codes).edges})
    n = len(codes)
    return Instance(
        ccg=name or ",".join(sorted({str(pcns.nodes[p].get("ccg_code", "")) for p in codes})),
        codes=codes,
        names=list(codes),
        sizes=[int(pcns.nodes[p]["list_size"]) for p in codes],
        xy=[(0.0, 0.0)] * n,
        edges=[(i, j) for i, j in edges],
        bridges={},
        sites=[],
        big=[False] * n,
        rural=[False] * n,
        locked=[],
        current=None,
        rules=Rules(),
    )


def _alone(pcns: nx.Graph, p: str, reach: Mapping[tuple[str, str], tuple[float, int]]) -> tuple[str, int]:
    """Return the base and patient-metres of PCN ``p`` keeping its own CD."""
    data = pcns.nodes[p]
    if "alone_base" in data:
        return str(data["alone_base"]), int(data.get("alone_cost", 0))
    # The base nearest its farthest practice, then the least patient-metres, then the code.
    own = sorted((reach[b, p][0], reach[b, p][1], b) for b in data["bases"] if (b, p) in reach)
    if own:
        return own[0][2], int(own[0][1])
    return str(data["bases"][0]) if data["bases"] else str(p), 0


def _reach_of(
    pcns: nx.Graph, codes: Sequence[str], reach: Mapping[tuple[str, str], tuple[float, int]], limits: _Limits
) -> _Reach:
    """Return who may serve whom among ``codes``: within reach, within S - 1 steps, within the limits."""
    index = {p: i for i, p in enumerate(codes)}
    sub = pcns.subgraph(codes)
    out = _Reach()
    for p in codes:
        base, cost = _alone(pcns, p, reach)
        out.alone_base.append(base)
        out.alone_cost.append(cost)
    if limits.max_pcns < 2:
        return out
    size = {p: int(pcns.nodes[p]["list_size"]) for p in codes}
    count = {p: int(pcns.nodes[p]["practices"]) for p in codes}
    for h in codes:
        candidates: dict[str, set[str]] = {}
        for b in pcns.nodes[h]["bases"]:
            if (b, h) not in reach:
                continue  # a base must reach every practice of its own PCN too
            # Those it may serve: within reach, within the limits beside its own PCN, and
            # joined to its PCN through such PCNs in at most max_pcns - 1 steps.
            fits = [
                q
                for q in _within(sub, h, limits.max_pcns - 1) - {h}
                if (b, q) in reach and limits.allows(size[h] + size[q], count[h] + count[q])
            ]
            near = nx.single_source_shortest_path_length(
                sub.subgraph([h, *fits]), h, cutoff=limits.max_pcns - 1
            )
            served = set(near) - {h}
            if served:
                candidates[b] = served
        for b in _undominated(h, candidates, reach):
            out.owner[b] = index[h]
            out.cost[index[h], b] = int(reach[b, h][1])
            for q in sorted(candidates[b]):
                out.cost[index[q], b] = int(reach[b, q][1])
    return out


def _within(graph: nx.Graph, node: str, steps: int) -> set[str]:
    return set(nx.single_source_shortest_path_length(graph, node, cutoff=steps))


def _undominated(
    h: str, candidates: Mapping[str, set[str]], reach: Mapping[tuple[str, str], tuple[float, int]]
) -> list[str]:
    """Return the bases of PCN ``h`` that no other of its bases dominates.

    Base ``b`` is dominated by ``c`` when ``c`` may serve every PCN ``b`` may, each at no
    more patient-metres (its own PCN too); ties keep the smaller code. Dropping dominated
    bases loses no optimum: any cluster based at ``b`` is as good based at ``c``.
    """

    def dominates(c: str, b: str) -> bool:
        if not candidates[b] <= candidates[c]:
            return False
        worse = [reach[b, q][1] - reach[c, q][1] for q in (*candidates[b], h)]
        return min(worse) >= 0 and (max(worse) > 0 or c < b)

    return sorted(b for b in candidates if not any(dominates(c, b) for c in candidates if c != b))


def _sharing_components(pcns: nx.Graph, reach: _Reach, codes: Sequence[str]) -> list[list[str]]:
    """Split ``codes`` where no cluster can cross: keep an edge only if one base may serve both ends.

    Exact: every edge of a cluster's tree joins two PCNs its base serves.
    """
    served: dict[int, set[str]] = {}
    for i, b in reach.cost:
        served.setdefault(i, set()).add(b)
    index = {p: i for i, p in enumerate(codes)}
    keep = nx.Graph()
    keep.add_nodes_from(codes)
    keep.add_edges_from(
        (a, b)
        for a, b in pcns.subgraph(codes).edges
        if served.get(index[a], set()) & served.get(index[b], set())
    )
    return [sorted(c) for c in nx.connected_components(keep)]


# --------------------------------------------------------------------------------------
# Model builders
# --------------------------------------------------------------------------------------


@dataclass
class ClusterModel:
    """The CP-SAT model of one component of PCNs and the parts its builders returned."""

    inst: Instance
    model: cp_model.CpModel
    forest: Forest
    reach: _Reach
    #: PCN keeps its own CD (a root with no other member).
    alone: dict[int, cp_model.IntVar]
    #: Base practice chosen for the cluster rooted at its PCN.
    base: dict[str, cp_model.IntVar]
    #: PCN (not the base's own) served by a base practice.
    serve: dict[tuple[int, str], cp_model.IntVar]
    #: Redundant columns: candidate cluster (PCN indices) chosen (:func:`add_cluster_cover`).
    cover: dict[tuple[int, ...], cp_model.IntVar] = field(default_factory=dict)

    @property
    def clusters(self) -> cp_model.LinearExprT:
        """CD posts: clusters, PCNs alone included (stage ``clusters``).

        Written on the redundant columns when there are any (equal to the forest's roots,
        but the linear relaxation bounds it at once).
        """
        if self.cover:
            return sum(self.alone.values()) + sum(self.cover.values())
        return sum(self.forest.root.values())

    @property
    def patient_metres(self) -> cp_model.LinearExprT:
        """Patients times metres to their CD base (stage ``patient_metres``)."""
        own = {b: self.reach.cost[h, b] for b, h in self.reach.owner.items()}
        return (
            sum(self.reach.alone_cost[i] * v for i, v in self.alone.items())
            + sum(own[b] * v for b, v in self.base.items())
            + sum(self.reach.cost[key] * v for key, v in self.serve.items())
        )


def add_bases(model: cp_model.CpModel, inst: Instance, forest: Forest, reach: _Reach) -> ClusterModel:
    """Root every cluster at the PCN of its base; every member within reach of the base.

    Returns the :class:`ClusterModel` holding the new variables.
    """
    # Data
    n = inst.n
    bases_of: dict[int, list[str]] = {i: [] for i in range(n)}
    for b, h in reach.owner.items():
        bases_of[h].append(b)
    served_by: dict[int, list[tuple[int, str]]] = {i: [] for i in range(n)}
    for i, b in sorted(reach.cost):
        if i != reach.owner[b]:
            served_by[i].append((i, b))

    # Variables
    alone = {i: model.new_bool_var(f"alone[{i}]") for i in range(n)}
    base = {b: model.new_bool_var(f"base[{b}]") for b in sorted(reach.owner)}
    serve = {(i, b): model.new_bool_var(f"serve[{i},{b}]") for keys in served_by.values() for i, b in keys}

    # Constraints
    # The root is the PCN of the base: clusters are not ordered by index.
    model.add(forest.ordered_roots == 0)
    for h in range(n):
        # A root keeps its own CD (alone) or is based at exactly one of its own practices.
        model.add(sum(base[b] for b in bases_of[h]) + alone[h] == forest.root[h])
        # A PCN alone has no other member.
        for a in forest.out_of[h]:
            model.add_implication(alone[h], forest.arc[a].Not())
        # Each PCN is alone, the base's own, or served by exactly one base within reach.
        model.add_exactly_one([alone[h], *(base[b] for b in bases_of[h]), *(serve[k] for k in served_by[h])])
    neighbours = inst.neighbours()
    for (i, b), var in serve.items():
        h = reach.owner[b]
        # A PCN is served only by a chosen base, and lies in the tree of the base's PCN.
        model.add_implication(var, base[b])
        model.add(forest.label[i] == h).only_enforce_if(var)
        if h not in neighbours[i]:
            # Redundant (connectivity, for the LP): a member not next to the base's PCN has a
            # neighbour served by the same base.
            model.add(var <= sum(serve[m, b] for m in neighbours[i] if (m, b) in serve))
    return ClusterModel(inst, model, forest, reach, alone, base, serve)


def add_cluster_limits(
    cm: ClusterModel,
    practices: Sequence[int],
    *,
    max_pcns: int,
    max_patients: int | None,
    max_practices: int | None,
) -> None:
    """Hold every shared cluster to at most ``max_pcns`` PCNs, ``max_patients`` and ``max_practices``."""
    inst, model = cm.inst, cm.model
    members: dict[str, list[int]] = {b: [] for b in cm.base}
    for i, b in cm.serve:
        members[b].append(i)
    for b, chosen in cm.base.items():
        h = cm.reach.owner[b]
        served = [cm.serve[i, b] for i in members[b]]
        # PCNs per cluster: the base's own and at most max_pcns - 1 more (written against
        # the base, so the LP relaxation sees it).
        model.add(sum(served) <= (max_pcns - 1) * chosen)
        if max_patients is not None:
            # Patients per shared cluster.
            model.add(
                inst.sizes[h] * chosen + sum(inst.sizes[i] * cm.serve[i, b] for i in members[b])
                <= max_patients * chosen
            )
        if max_practices is not None:
            # Practices per shared cluster.
            model.add(
                practices[h] * chosen + sum(practices[i] * cm.serve[i, b] for i in members[b])
                <= max_practices * chosen
            )


def candidate_clusters(inst: Instance, reach: _Reach, limits: _Limits, practices: Sequence[int]) -> dict:
    """Return every cluster a base may serve, with its best base: ``{members: base}``.

    A candidate is a connected set of 2 to ``limits.max_pcns`` PCNs within the patient and
    practice limits and a base of one of them serving all the others; its best base is the
    one of least patient-metres (ties: the smaller code), the only base an optimum uses.
    """
    neighbours = inst.neighbours()
    serves: dict[int, set[str]] = {}
    for i, b in reach.cost:
        serves.setdefault(i, set()).add(b)
    found: dict[tuple[int, ...], str] = {}
    frontier: set[tuple[int, ...]] = {(i,) for i in range(inst.n) if i in serves}
    for _size in range(2, limits.max_pcns + 1):
        grown: set[tuple[tuple[int, ...], frozenset[str]]] = set()
        for members in frontier:
            common = set.intersection(*(serves[i] for i in members))
            for i in {j for m in members for j in neighbours[m]} - set(members):
                shared = common & serves.get(i, set())
                if shared:
                    grown.add((tuple(sorted((*members, i))), frozenset(shared)))
        frontier = set()
        for members, common_bases in grown:
            frontier.add(members)
            patients = sum(inst.sizes[i] for i in members)
            count = sum(practices[i] for i in members)
            bases = [b for b in common_bases if reach.owner[b] in members]
            if bases and limits.allows(patients, count):
                found[members] = min(bases, key=lambda b: (sum(reach.cost[i, b] for i in members), b))
    return found


def add_cluster_cover(cm: ClusterModel, clusters: Mapping[tuple[int, ...], str]) -> dict:
    """Add the candidate clusters as redundant columns: each PCN alone or in exactly one of them.

    Redundant with :func:`add_bases` and :func:`add_cluster_limits` (which state the rules),
    but a set partition's linear relaxation is far tighter than the forest's, so the proof
    of the fewest posts comes quickly. Returns the column variables by members.
    """
    model, reach = cm.model, cm.reach
    use = {c: model.new_bool_var(f"use[{','.join(map(str, c))}]") for c in sorted(clusters)}
    of_pcn: dict[int, list[cp_model.IntVar]] = {i: [cm.alone[i]] for i in range(cm.inst.n)}
    of_base: dict[str, list[cp_model.IntVar]] = {b: [] for b in cm.base}
    of_serve: dict[tuple[int, str], list[cp_model.IntVar]] = {key: [] for key in cm.serve}
    for members, b in clusters.items():
        of_base[b].append(use[members])
        for i in members:
            of_pcn[i].append(use[members])
            if i != reach.owner[b]:
                of_serve[i, b].append(use[members])
    # Redundant (set partition): each PCN keeps its own CD or is in exactly one cluster.
    for columns in of_pcn.values():
        model.add_exactly_one(columns)
    # Redundant: a base is chosen, and a PCN served by it, exactly when a cluster says so.
    for b, var in cm.base.items():
        model.add(var == sum(of_base[b]))
    for key, var in cm.serve.items():
        model.add(var == sum(of_serve[key]))
    # Redundant: the forest has one root per column chosen.
    model.add(sum(cm.forest.root.values()) == sum(cm.alone.values()) + sum(use.values()))
    return use


#: Each cluster stage's expression on the model.
CLUSTER_STAGE_EXPRESSIONS: dict[str, Callable[[ClusterModel], cp_model.LinearExprT]] = {
    "clusters": lambda cm: cm.clusters,
    "patient_metres": lambda cm: cm.patient_metres,
}


# --------------------------------------------------------------------------------------
# Arrangements: cluster root -> (base, members)
# --------------------------------------------------------------------------------------

_Arrangement = dict[int, tuple[str, list[int]]]


def _stage_values(reach: _Reach, arrangement: _Arrangement) -> dict[str, float]:
    cost = 0
    for h, (b, members) in arrangement.items():
        cost += reach.alone_cost[h] if len(members) == 1 else sum(reach.cost[i, b] for i in members)
    return {"clusters": float(len(arrangement)), "patient_metres": float(cost)}


def _pairing(inst: Instance, reach: _Reach, limits: _Limits, practices: Sequence[int]) -> _Arrangement:
    """Return the optimal pairing (fewest posts, then least patient-metres) as a start."""
    best: dict[tuple[int, int], tuple[int, str]] = {}
    edges = set(inst.edges)
    for b, h in reach.owner.items():
        for i in reach.members(b):
            pair = (min(h, i), max(h, i))
            if pair not in edges:
                continue
            if not limits.allows(inst.sizes[h] + inst.sizes[i], practices[h] + practices[i]):
                continue
            cost = reach.cost[h, b] + reach.cost[i, b]
            if pair not in best or (cost, b) < best[pair]:
                best[pair] = (cost, b)
    arrangement: _Arrangement = {i: (reach.alone_base[i], [i]) for i in range(inst.n)}
    if not best or limits.max_pcns < 2:
        return arrangement
    gain = {p: reach.alone_cost[p[0]] + reach.alone_cost[p[1]] - c for p, (c, _) in best.items()}
    shift = 1 + max(0, -min(gain.values()))
    h_graph = nx.Graph()
    h_graph.add_weighted_edges_from((a, b, shift + d) for (a, b), d in sorted(gain.items()))
    for a, b in nx.max_weight_matching(h_graph, maxcardinality=True):
        pair = (min(a, b), max(a, b))
        base = best[pair][1]
        root = reach.owner[base]
        other = pair[1] if root == pair[0] else pair[0]
        del arrangement[other]
        arrangement[root] = (base, sorted(pair))
    return arrangement


def _add_hints(cm: ClusterModel, model: cp_model.CpModel, arrangement: _Arrangement) -> None:
    """Hint every variable of ``model`` (a clone of ``cm.model``) from an arrangement."""
    inst, tree = cm.inst, cm.forest
    adjacency = nx.Graph(inst.edges)
    parent: dict[int, int] = {}
    label = [0] * inst.n
    base_of = [""] * inst.n
    for h, (b, members) in arrangement.items():
        if len(members) > 1:
            for up, child in nx.bfs_edges(adjacency.subgraph(members), h):
                parent[child] = up
        for i in members:
            label[i] = h
            base_of[i] = b if len(members) > 1 else ""
    subtree = subtree_sizes(inst, parent)
    for i in range(inst.n):
        is_root = i in arrangement
        model.add_hint(tree.root[i], is_root)
        model.add_hint(tree.label[i], label[i])
        model.add_hint(tree.supply[i], subtree[i] if is_root else 0)
        model.add_hint(cm.alone[i], is_root and len(arrangement[i][1]) == 1)
    for i, j in inst.arcs:
        chosen = parent.get(j) == i
        model.add_hint(tree.arc[i, j], chosen)
        model.add_hint(tree.flow[i, j], subtree[j] if chosen else 0)
    model.add_hint(tree.ordered_roots, False)
    for b, var in cm.base.items():
        h = cm.reach.owner[b]
        model.add_hint(var, h in arrangement and arrangement[h][0] == b and len(arrangement[h][1]) > 1)
    for (i, b), var in cm.serve.items():
        model.add_hint(var, base_of[i] == b and label[i] != i)
    picked = {tuple(m) for _, m in arrangement.values()}
    for cluster, var in cm.cover.items():
        model.add_hint(var, cluster in picked)


def _read(cm: ClusterModel, solver: cp_model.CpSolver) -> _Arrangement:
    arrangement: _Arrangement = {}
    for i, var in cm.alone.items():
        if solver.boolean_value(var):
            arrangement[i] = (cm.reach.alone_base[i], [i])
    for b, var in cm.base.items():
        if solver.boolean_value(var):
            arrangement[cm.reach.owner[b]] = (b, [cm.reach.owner[b]])
    for (i, b), var in cm.serve.items():
        if solver.boolean_value(var):
            arrangement[cm.reach.owner[b]][1].append(i)
    return {h: (b, sorted(m)) for h, (b, m) in arrangement.items()}


# --------------------------------------------------------------------------------------
# Solve one component, stage by stage
# --------------------------------------------------------------------------------------


def _solve_stage(
    cm: ClusterModel, arrangement: _Arrangement, stage: str, options: SolveOptions
) -> tuple[_Arrangement, StageResult]:
    stage_model = cm.model.clone()
    _add_hints(cm, stage_model, arrangement)
    expression = CLUSTER_STAGE_EXPRESSIONS[stage](cm)
    stage_model.minimize(expression)
    solver = solver_from_options(options, limit=options.proof_limit_s, workers=options.workers)
    if "linearization_level" not in options.params:
        # The set partition's cuts need the full linearisation to bound the fewest posts.
        solver.parameters.linearization_level = 2
    if "cp_model_probing_level" not in options.params:
        # Probing the forest's many literals costs more than it saves here (a 60-PCN
        # component: 3 s with none, 15 s with the default).
        solver.parameters.cp_model_probing_level = 0
    t0 = time.perf_counter()
    status = solver.solve(stage_model)
    seconds = time.perf_counter() - t0
    name = STATUS.get(status, str(status))
    if status in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
        msg = (
            f"PCNs {', '.join(cm.inst.codes[:5])}{' ...' if cm.inst.n > 5 else ''}: no CD arrangement "
            f"(CP-SAT says {name} at stage {stage}), though keeping every PCN alone always is one; "
            "this is a fault in the cluster model: report it with the PCNs named"
        )
        raise InfeasibleError(msg)
    if status == cp_model.UNKNOWN:  # no solution within the limit: keep the start
        value = _stage_values(cm.reach, arrangement)[stage]
        bound = min(float(solver.best_objective_bound), value)
        return arrangement, StageResult(stage, value, bound, "FEASIBLE", seconds)
    found = StageResult(
        stage, float(solver.objective_value), float(solver.best_objective_bound), name, seconds
    )
    return _read(cm, solver), found


def _solve_component(
    pcns: nx.Graph, codes: list[str], reach: _Reach, limits: _Limits, options: SolveOptions
) -> tuple[_Arrangement, list[StageResult]]:
    inst = instance_from_pcns(pcns, codes)
    practices = [int(pcns.nodes[p]["practices"]) for p in codes]
    start = _pairing(inst, reach, limits, practices)
    if not reach.owner:  # nobody can share: every PCN keeps its own CD, proven
        values = _stage_values(reach, start)
        return start, [StageResult(s, values[s], values[s], "OPTIMAL", 0.0) for s in CLUSTER_STAGES]
    model = cp_model.CpModel()
    tree = add_forest(model, inst)
    cm = add_bases(model, inst, tree, reach)
    add_cluster_limits(
        cm,
        practices,
        max_pcns=limits.max_pcns,
        max_patients=limits.max_patients,
        max_practices=limits.max_practices,
    )
    cm.cover = add_cluster_cover(cm, candidate_clusters(inst, reach, limits, practices))
    arrangement, results = start, []
    for stage in CLUSTER_STAGES:
        arrangement, result = _solve_stage(cm, arrangement, stage, options)
        results.append(result)
        # Fix this stage's value for the stages after it.
        cm.model.add(CLUSTER_STAGE_EXPRESSIONS[stage](cm) <= round(result.value))
    return arrangement, results


def _solve_part(
    sub: nx.Graph, codes: list[str], reach: _Reach, limits: _Limits, options: SolveOptions
) -> tuple[list[str], _Arrangement, list[StageResult]]:
    """Solve one component and check the arrangement (runs in a worker process too)."""
    arrangement, stages = _solve_component(sub, codes, reach, limits, options)
    _check_arrangement(sub, codes, arrangement, reach, limits)
    return codes, arrangement, stages


def _solve_all(
    parts: list[tuple[nx.Graph, list[str], _Reach]], limits: _Limits, options: SolveOptions
) -> Iterator[tuple[list[str], _Arrangement, list[StageResult]]]:
    """Yield each component's arrangement, in a process pool when ``options.processes > 1``."""
    searched = [job for job in parts if job[2].owner]
    for sub, codes, part in parts:
        if not part.owner:  # nobody can share: no model to build
            yield _solve_part(sub, codes, part, limits, options)
    job = partial(_solve_job, limits=limits, options=options)
    if options.processes == 1 or len(searched) < 2:
        yield from in_process(job, searched)
    else:
        yield from imap_unordered(job, searched, processes=options.processes)


def _solve_job(
    part: tuple[nx.Graph, list[str], _Reach], *, limits: _Limits, options: SolveOptions
) -> tuple[list[str], _Arrangement, list[StageResult]]:
    """Solve one component given as (graph, codes, reach) (a worker's job)."""
    return _solve_part(*part, limits, options)


def _check_arrangement(
    pcns: nx.Graph, codes: Sequence[str], arrangement: _Arrangement, reach: _Reach, limits: _Limits
) -> None:
    """Assert what every arrangement must be: each PCN once, clusters connected and within the limits."""
    seen = sorted(i for _, members in arrangement.values() for i in members)
    ok = seen == list(range(len(codes)))
    for h, (b, members) in arrangement.items():
        if len(members) < 2:
            continue
        names = [codes[i] for i in members]
        size = sum(int(pcns.nodes[p]["list_size"]) for p in names)
        count = sum(int(pcns.nodes[p]["practices"]) for p in names)
        ok = (
            ok
            and reach.owner.get(b) == h
            and all((i, b) in reach.cost for i in members)
            and len(members) <= limits.max_pcns
            and limits.allows(size, count)
            and nx.is_connected(pcns.subgraph(names))
        )
    if not ok:
        msg = f"internal: the CD arrangement of {', '.join(codes)} breaks a rule: {arrangement}"
        raise AssertionError(msg)


def _check_inputs(pcns: nx.Graph, max_pcns: int) -> None:
    if not isinstance(pcns, nx.Graph):
        msg = f"pcns must be a networkx Graph of PCNs, {type(pcns).__name__} was given instead"
        raise TypeError(msg)
    if max_pcns < 1:
        msg = f"max_pcns {max_pcns} must be at least 1 (1: every PCN keeps its own CD)"
        raise DataError(msg)
    needed = ("list_size", "practices", "bases")
    missing = sorted(p for p, data in pcns.nodes(data=True) if any(k not in data for k in needed))
    if missing:
        msg = (
            f"PCN node(s) {', '.join(map(str, missing[:5]))} lack one of {', '.join(needed)}: "
            "build the graph with footprint.share.pcn_graph and add each PCN's bases"
        )
        raise DataError(msg)


def cluster_groups(
    pcns: nx.Graph,
    *,
    max_pcns: int,
    max_patients: int | None,
    max_practices: int | None,
    reach: Mapping[tuple[str, str], tuple[float, int]],
    options: SolveOptions | None = None,
) -> Plan:
    """Return the arrangement of PCNs into clusters sharing a CD: fewest posts, then least distance.

    Parameters
    ----------
    pcns
        Graph of neighbouring PCNs (:func:`footprint.share.pcn_graph`); node attributes
        ``list_size``, ``practices``, ``ccg_code``, ``members`` and ``bases`` (practice codes
        that may serve as the CD base), and optionally ``alone_base`` and ``alone_cost``
        (the base and whole patient-metres when the PCN keeps its own CD; by default its
        own base nearest its farthest practice, from ``reach``).
    max_pcns
        Most PCNs in one cluster.
    max_patients, max_practices
        Most patients and practices in one shared cluster (``None``: no limit). A PCN
        alone keeps its own CD whatever its size.
    reach
        ``(base practice, pcn id) -> (largest km, whole patient-metres)`` from that
        practice to the PCN's practices, present only where the whole PCN lies within the
        distance limit of the practice (:func:`footprint.share.cluster_reach`).
    options
        Solver options: ``proof_limit_s`` bounds each stage of each component,
        ``workers`` and ``seed`` as for plans.

    Returns
    -------
    Plan
        PCN id to cluster id (the id of the PCN holding the base). ``info["base"]`` maps
        cluster id to base practice; ``info["status"]`` maps each component (by its
        first PCN id) to ``{"status", "ccgs", "pcns", "stages"}``, ``status`` being
        ``OPTIMAL`` when every stage is proven, else ``FEASIBLE`` (a stage's limit ran out;
        the arrangement found meets every rule), and ``stages`` giving each stage's value,
        bound and ``proven`` flag.

    Raises
    ------
    TypeError
        If ``pcns`` is not a networkx graph.
    DataError
        If ``max_pcns`` is below 1 or a PCN node lacks ``list_size``, ``practices`` or ``bases``.
    InfeasibleError
        If CP-SAT returns neither a solution nor a proof (a fault: every PCN alone is feasible).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.Graph()
    >>> for p in "pqr":
    ...     code = (p.upper(),)
    ...     g.add_node(p, list_size=10_000, practices=1, ccg_code="X", members=code, bases=code)
    >>> g.add_edges_from([("p", "q"), ("q", "r")])
    >>> km = {(b, q): abs("PQR".index(b) - "pqr".index(q)) for b in "PQR" for q in "pqr"}
    >>> reach = {key: (float(d), d * 10_000_000) for key, d in km.items()}  # 10,000 patients d km away
    >>> plan = cluster_groups(g, max_pcns=3, max_patients=None, max_practices=None, reach=reach,
    ...                       options=SolveOptions(workers=1, processes=1))
    >>> sorted(map(sorted, plan.partition)), plan.info["base"]
    ([['p', 'q', 'r']], {'q': 'Q'})
    """
    _check_inputs(pcns, max_pcns)
    options = options or SolveOptions()
    limits = _Limits(max_pcns, max_patients, max_practices)
    parts = []
    for component in sorted((sorted(c) for c in nx.connected_components(pcns)), key=lambda c: c[0]):
        whole = _reach_of(pcns, component, reach, limits)
        for codes in _sharing_components(pcns, whole, component):
            part = _reach_of(pcns, codes, reach, limits)
            parts.append((pcns.subgraph(codes).copy(), codes, part))
    parts.sort(key=lambda job: -len(job[2].cost))  # largest first balances the processes
    assignment: dict[str, str | None] = {}
    base: dict[str, str] = {}
    status: dict[str, dict] = {}
    for codes, arrangement, stages in _solve_all(parts, limits, options):
        for h, (b, members) in arrangement.items():
            base[codes[h]] = b
            assignment.update((codes[i], codes[h]) for i in members)
        status[codes[0]] = {
            "status": "OPTIMAL" if all(s.proven for s in stages) else "FEASIBLE",
            "ccgs": sorted({str(pcns.nodes[p].get("ccg_code", "")) for p in codes}),
            "pcns": len(codes),
            "stages": [
                {
                    "stage": s.name,
                    "value": s.value,
                    "bound": s.bound,
                    "proven": s.proven,
                    "seconds": s.seconds,
                }
                for s in stages
            ],
        }
        if not all(s.proven for s in stages):
            logger.warning("CD clusters of %s: not proven optimal within the limit (%s)", codes[0], stages)
    return Plan(assignment, {"base": dict(sorted(base.items())), "status": dict(sorted(status.items()))})
