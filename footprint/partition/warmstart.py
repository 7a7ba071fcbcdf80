"""The warm start: a good grouping built before the solver, and a compactness polish.

Buildings and locked groups are units; a spanning tree over each CCG's free units is
cut optimally by a dynamic programme over list sizes (:func:`cut_tree`), out-of-band
groups are repaired by recombination (after GerryChain's ReCom), and before the
compactness stage boundary practices move between in-band groups (:func:`polish`).

Every group is costed by the one band rule (:class:`footprint.config.Rules`), in the
order of the objective stages: a group out of band and not exempt weighs far more than an
exempt one, which weighs far more than any number of patients of deviation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import networkx as nx
import numpy as np

from footprint.config import Rules
from footprint.partition._instance import Instance

__all__ = ["free_units_of", "group_cost", "polish", "recombine_pair", "warm_start"]

#: Patients per step of the tree partitioner's size grid.
_GRID = 250
#: Weight of a group out of band that is not exempt (stage ``out_of_band``).
NOT_EXEMPT_WEIGHT = 1e13
#: Weight of any group out of band (stage ``out_of_band_all``); above any CCG's deviation.
OUT_WEIGHT = 1e8


def group_cost(rules: Rules, list_size: int, *, practices: int, rural: bool, approved: bool = False) -> float:
    """Return the warm start's cost of one group under the band rule.

    ``NOT_EXEMPT_WEIGHT`` if out of band and not exempt, plus ``OUT_WEIGHT`` if out of
    band at all, plus the patients outside the band (:meth:`Rules.deviation`).

    Examples
    --------
    >>> group_cost(Rules(), 42_000, practices=4, rural=False)
    0.0
    >>> group_cost(Rules(), 25_000, practices=3, rural=True) == OUT_WEIGHT + 5_000
    True
    """
    status = rules.group_status(list_size, practices=practices, rural=rural, approved=approved)
    cost = float(rules.deviation(list_size))
    if status != "in_band":
        cost += OUT_WEIGHT
        if status in ("below", "above"):
            cost += NOT_EXEMPT_WEIGHT
    return cost


@lru_cache(maxsize=8)
def _cost_table(rules: Rules, rural: bool, size: int) -> np.ndarray:
    """Return :func:`group_cost` of a free group of every list size ``0 .. size - 1``.

    A group the tree partitioner forms is never a big practice standing alone (those
    are fixed units), so it is costed as a group of several practices.
    """
    return np.array([group_cost(rules, s, practices=2, rural=rural) for s in range(size)])


def _closing_costs(rules: Rules, exact: np.ndarray, rural: bool) -> np.ndarray:
    """Return :func:`group_cost` of groups of list sizes ``exact`` (a vectorised table look-up)."""
    table = _cost_table(rules, rural, 10_000 * (rules.band.high // 10_000 + 4))
    sizes = np.rint(exact).astype(np.int64)
    inside = sizes < len(table)
    costs = table[np.where(inside, sizes, 0)]
    for s in np.unique(sizes[~inside]):  # rare: an open group past the table
        costs[sizes == s] = group_cost(rules, int(s), practices=2, rural=rural)
    return costs


def units_of(inst: Instance) -> tuple[list[int], set[int]]:
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


@dataclass(frozen=True)
class _Units:
    """The free units of a CCG (buildings, practices) joined by their adjacency, with sizes and rurality."""

    free: nx.Graph
    sizes: Mapping[int, int]
    rural: Mapping[int, bool]


def free_units_of(inst: Instance, units: Sequence[int], fixed: set[int]) -> _Units:
    """Return the free units (see :func:`units_of`) joined by their shortest adjacency, in metres."""
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
    return _Units(free, sizes, rural)


def recombine_pair(inst: Instance, labels: Sequence[int], rng: np.random.Generator) -> list[int] | None:
    """Return ``labels`` with two random neighbouring groups merged and re-cut (one ReCom step).

    A random spanning tree is drawn over the two groups' free units and cut optimally
    (:func:`cut_tree`); the step is taken only when it changes the grouping and costs no
    more under the band rule (so no stage of the band gets worse). Returns ``None`` when
    the step is not taken. Buildings, locked groups and practices standing alone never move.
    """
    units, fixed = units_of(inst)
    pool = free_units_of(inst, units, fixed)
    group_of = {units[i]: labels[i] for i in range(inst.n)}
    labels_of_unit: dict[int, set[int]] = {}
    for i in range(inst.n):
        labels_of_unit.setdefault(units[i], set()).add(labels[i])
    # A building split between groups is no unit to move: those groups are left alone.
    split = {g for labs in labels_of_unit.values() if len(labs) > 1 for g in labs}
    pairs = sorted(
        {
            tuple(sorted((group_of[a], group_of[b])))
            for a, b in pool.free.edges
            if group_of[a] != group_of[b] and not {group_of[a], group_of[b]} & split
        }
    )
    if not pairs:
        return None
    g, h = pairs[int(rng.integers(len(pairs)))]
    merged = [u for u in pool.free if group_of[u] in (g, h)]
    weighted = nx.Graph()
    weighted.add_nodes_from(merged)
    weighted.add_weighted_edges_from(
        (a, b, rng.random()) for a, b in sorted(pool.free.subgraph(merged).edges)
    )
    if not nx.is_connected(weighted):  # a group split across buildings: not one area to re-cut
        return None
    cost, parts = cut_tree(nx.minimum_spanning_tree(weighted), pool.sizes, pool.rural, inst.rules)

    def area_cost(groups: Mapping[int, int]) -> float:
        members: dict[int, list[int]] = {}
        for u, part in groups.items():
            members.setdefault(part, []).append(u)
        return sum(
            group_cost(
                inst.rules, sum(pool.sizes[u] for u in m), practices=2, rural=all(pool.rural[u] for u in m)
            )
            for m in members.values()
        )

    before = {u: group_of[u] for u in merged}
    if cost > area_cost(before):
        return None
    # Name the new groups g, h, then fresh labels for any further group the cut made.
    names = dict(
        zip(
            sorted(set(parts.values())),
            [g, h, *range(max(labels) + 1, max(labels) + len(parts))],
            strict=False,
        )
    )
    new = {u: names[parts[u]] for u in merged}
    if _same_partition(new, before):
        return None
    return [new[units[i]] if units[i] in new else labels[i] for i in range(inst.n)]


def _same_partition(a: Mapping[int, int], b: Mapping[int, int]) -> bool:
    """Return whether two labellings of the same units group them alike."""
    return len(set(a.values())) == len(set(b.values())) == len({(a[u], b[u]) for u in a})


def warm_start(inst: Instance, *, seed: int, trees: int = 4) -> list[int]:
    """Return a good grouping (a label per practice) to start the solver from.

    Buildings stay together. The free units of each connected part are joined by a
    spanning tree, and a dynamic programme over the tree finds the cuts that give the
    fewest groups out of band and not exempt, then the fewest out of band, then the least
    deviation, on a 250-patient size grid. The first tree is the shortest (compact
    groups); the others use random weights.
    """
    units, fixed = units_of(inst)
    free_units = free_units_of(inst, units, fixed)
    free, sizes, rural = free_units.free, free_units.sizes, free_units.rural
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
            cost, groups = cut_tree(nx.minimum_spanning_tree(weighted), sizes, rural, inst.rules)
            if best is None or cost < best[0]:
                best = (cost, groups)
        assert best is not None
        label.update(best[1])
    _recombine(inst.rules, free_units, label, rng)
    return [label[units[i]] for i in range(inst.n)]


def _recombine(
    rules: Rules,
    units: _Units,
    label: dict[int, int],
    rng: np.random.Generator,
    *,
    rounds_per_group: int = 12,
) -> None:
    """Repair out-of-band groups in place by recombination (after GerryChain's ReCom).

    An out-of-band group (exempt or not) is merged with the groups around it (one ring,
    widening after repeated failures), a random spanning tree is drawn over the merged
    area, and the tree is re-cut optimally; the new groups are kept when they cost less.
    """
    free, sizes, rural = units.free, units.sizes, units.rural

    def cost(members: Sequence[int] | set[int]) -> float:
        total = sum(sizes[u] for u in members)
        return group_cost(rules, total, practices=2, rural=all(rural[u] for u in members))

    def summary() -> tuple[dict[int, set[int]], dict[int, float]]:
        groups: dict[int, set[int]] = {}
        for u, g in label.items():
            if u in free:
                groups.setdefault(g, set()).add(u)
        return groups, {g: cost(members) for g, members in groups.items()}

    groups, costs = summary()
    failures: dict[int, int] = {}
    for _ in range(rounds_per_group * sum(c >= OUT_WEIGHT for c in costs.values())):
        bad = sorted(g for g, c in costs.items() if c >= OUT_WEIGHT and failures.get(g, 0) < rounds_per_group)
        if not bad:
            return
        g = bad[int(rng.integers(len(bad)))]
        area = {g}
        for _ring in range(1 + failures.get(g, 0) // 4):
            area |= {label[v] for u in set().union(*(groups[h] for h in area)) for v in free[u]}
        merged = set().union(*(groups[h] for h in area))
        weighted = nx.Graph()
        weighted.add_nodes_from(merged)
        weighted.add_weighted_edges_from((a, b, rng.random()) for a, b in sorted(free.subgraph(merged).edges))
        _, parts = cut_tree(nx.minimum_spanning_tree(weighted), sizes, rural, rules)
        new: dict[int, list[int]] = {}
        for u, part in parts.items():
            new.setdefault(part, []).append(u)
        if sum(cost(m) for m in new.values()) < sum(costs[h] for h in area):
            label.update(parts)
            groups, costs = summary()
            failures.pop(g, None)
        else:
            failures[g] = failures.get(g, 0) + 1


def _join(
    cost: np.ndarray, exact: np.ndarray, child: np.ndarray, child_exact: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the open group of a unit absorbing a child's open group (a min-plus convolution).

    ``join[s]`` is the least of ``cost[s - s2] + child[s2]`` over child states ``s2``;
    groups past the top of the grid are never worth forming and are dropped. Returns the
    joined costs, the child state each came from and the joined exact list sizes.
    """
    steps = len(cost)
    shifts = np.flatnonzero(np.isfinite(child))
    source = np.arange(steps)[None, :] - shifts[:, None]
    valid = source >= 0
    source = np.where(valid, source, 0)
    candidates = np.where(valid, cost[source] + child[shifts][:, None], np.inf)
    pick = np.argmin(candidates, axis=0)
    columns = np.arange(steps)
    join_from = shifts[pick]
    return candidates[pick, columns], join_from, exact[source[pick, columns]] + child_exact[join_from]


def cut_tree(
    tree: nx.Graph, sizes: Mapping[int, int], rural: Mapping[int, bool], rules: Rules
) -> tuple[float, dict[int, int]]:
    """Cut a tree of units into subtrees of least total :func:`group_cost`.

    A dynamic programme from the leaves up: a state is the size, in grid steps, of the
    group still open at a unit; each child's open group is either closed (the edge cut)
    or joined. A group is rural when all its units are. Returns the cost and a group
    label (a unit) per unit.
    """
    top = max(rules.band.high + rules.band.low // 2, max(sizes.values()) + _GRID)
    steps = top // _GRID + 1

    def closing(exact: np.ndarray, is_rural: bool) -> np.ndarray:
        return _closing_costs(rules, exact, is_rural)

    root = min(tree)
    parent = {v: u for u, v in nx.dfs_edges(tree, root)}
    best: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    records: dict[int, list[tuple[int, np.ndarray, int]]] = {}
    rural_open: dict[int, bool] = {}
    for v in nx.dfs_postorder_nodes(tree, root):
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
            join, join_from, join_exact = _join(cost, exact, child, child_exact)
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
    return float(final[state]), _walk_back(root, state, records)


def _walk_back(
    root: int, state: int, records: Mapping[int, list[tuple[int, np.ndarray, int]]]
) -> dict[int, int]:
    """Walk the programme's records back down the tree: undo each child's merge in reverse order."""
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
    return groups


# --------------------------------------------------------------------------------------
# Polish: boundary moves between in-band groups
# --------------------------------------------------------------------------------------


def _inertia(t: Sequence[float]) -> float:
    """Return a group's list-weighted moment of inertia from its sums (w, wx, wy, w(x^2+y^2))."""
    return t[3] - (t[1] ** 2 + t[2] ** 2) / t[0] if t[0] > 0 else 0.0


class _Moments:
    """Per-group sums of list size, w*x, w*y and w*(x^2+y^2), for the moment of inertia."""

    def __init__(self, inst: Instance, labels: Sequence[int]) -> None:
        w = np.array(inst.sizes, dtype=float)
        x, y = inst.xy[:, 0] / 1000, inst.xy[:, 1] / 1000
        self.columns = np.column_stack([w, w * x, w * y, w * (x * x + y * y)])
        self.members: dict[int, set[int]] = {}
        for i, g in enumerate(labels):
            self.members.setdefault(g, set()).add(i)
        self.stats = {g: self.columns[list(s)].sum(axis=0) for g, s in self.members.items()}

    def of(self, unit: Sequence[int]) -> np.ndarray:
        return self.columns[list(unit)].sum(axis=0)

    def move(self, unit: Sequence[int], g: int, h: int) -> None:
        delta = self.of(unit)
        self.members[g] -= set(unit)
        self.members[h] |= set(unit)
        self.stats[g] = self.stats[g] - delta
        self.stats[h] = self.stats[h] + delta


def _best_target(
    moments: _Moments, unit: Sequence[int], g: int, targets: set[int], in_band: Callable[[float], bool]
) -> int | None:
    """Return the neighbouring group whose taking ``unit`` from ``g`` lowers inertia most, if any."""
    delta = moments.of(unit)
    stats = moments.stats
    if not in_band(stats[g][0]):
        return None
    best, gain = None, 1e-9
    for h in sorted(targets):
        donor, taker = stats[g] - delta, stats[h] + delta
        if not (in_band(stats[h][0]) and in_band(donor[0]) and in_band(taker[0])):
            continue
        change = _inertia(stats[g]) + _inertia(stats[h]) - _inertia(donor) - _inertia(taker)
        if change > gain:
            best, gain = h, change
    return best


def polish(
    inst: Instance,
    labels: Sequence[int],
    *,
    values: Callable[[Sequence[int]], Mapping[str, float]],
    keep: Sequence[str],
    passes: int = 4,
) -> list[int]:
    """Make groups more compact by moving boundary practices between in-band groups.

    A move takes a practice (with any building-mates in its group) to a neighbouring group
    when both groups stay in band, the group it leaves stays connected, and the groups'
    list-weighted moment of inertia (sum of list size times squared distance to the
    group's centre) falls. Practices over the band and locked groups never move. The
    result is kept only if no earlier stage in ``keep`` gets worse under ``values`` (the
    stage evaluators).
    """
    original, labels = list(labels), list(labels)
    adjacency = inst.neighbours()
    frozen = {i for group in inst.fixed_groups() for i in group}
    frozen_groups = {labels[i] for i in frozen}
    mates = {i: [j for j in site if j != i] for site in inst.sites for i in site}
    moments = _Moments(inst, labels)

    def in_band(total: float) -> bool:
        return inst.rules.band.contains(round(total))

    for _ in range(passes):
        moved = False
        for i in range(inst.n):
            g = labels[i]
            if g in frozen_groups:
                continue
            unit = [i, *(j for j in mates.get(i, []) if labels[j] == g)]
            if len(unit) == len(moments.members[g]):
                continue
            targets = {labels[j] for u in unit for j in adjacency[u]} - {g} - frozen_groups
            best = _best_target(moments, unit, g, targets, in_band)
            if best is None:
                continue
            rest = moments.members[g] - set(unit)
            left = nx.Graph((a, b) for a in rest for b in adjacency[a] if b in rest)
            left.add_nodes_from(rest)
            if not nx.is_connected(left):
                continue
            for u in unit:
                labels[u] = best
            moments.move(unit, g, best)
            moved = True
        if not moved:
            break
    before, after = values(original), values(labels)
    return original if any(after[s] > before[s] for s in keep) else labels
