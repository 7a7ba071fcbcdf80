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

import math
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

import networkx as nx
import numpy as np

from footprint.config import Rules
from footprint.partition._instance import Instance

__all__ = [
    "components",
    "current_repaired",
    "free_units_of",
    "group_cost",
    "polish",
    "recombine_compact",
    "recombine_pair",
    "warm_start",
]

#: Patients per step of the tree partitioner's size grid.
_GRID = 250
#: Weight of a group out of band that is not exempt (stage ``out_of_band``).
NOT_EXEMPT_WEIGHT = 1e13
#: Weight of any group out of band (stage ``out_of_band_all``); above any CCG's deviation.
OUT_WEIGHT = 1e8
#: Free units up to which the warm start weighs every grouping instead of cutting trees.
EXACT_UNITS = 10
#: The tree partitioner's reward per group formed: below one patient of deviation over
#: any CCG's groups, so it only breaks ties, towards more (smaller, more compact) groups.
GROUP_BONUS = 1e-3


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


#: List sizes up to which a group's cost is read from a table (:func:`_closing_table`).
def _table_size(rules: Rules) -> int:
    return 10_000 * (rules.band.high // 10_000 + 4)


@lru_cache(maxsize=8)
def _closing_table(rules: Rules, rural: bool) -> array[float]:
    """Return :func:`group_cost` less :data:`GROUP_BONUS` of a free group of every list size in the table.

    A group the tree partitioner forms is never a big practice standing alone (those
    are fixed units), so it is costed as a group of several practices. The table is an
    array of doubles, not a list of float objects: reading it writes nothing (no
    reference counts), so a process forked after it was built shares its pages.
    """
    return array(
        "d", [group_cost(rules, s, practices=2, rural=rural) - GROUP_BONUS for s in range(_table_size(rules))]
    )


def _closing_cost(rules: Rules, table: Sequence[float], exact: float, *, rural: bool) -> float:
    """Return the cost of closing a free group of list size ``exact``, less :data:`GROUP_BONUS`."""
    size = round(exact)
    if size < len(table):
        return table[size]
    return group_cost(rules, size, practices=2, rural=rural) - GROUP_BONUS  # rare: past the table


def units_of(inst: Instance, *, sites: bool = True) -> tuple[list[int], set[int]]:
    """Return a unit per practice (buildings and locked groups as one) and the fixed units.

    Practices over the band (unless allowed to merge) and locked groups are fixed: they
    form groups of their own and take no part in the search. With ``sites`` false, the
    practices of a building are units of their own (the building may be split).
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
    for site in inst.sites if sites else ():
        free = [i for i in site if not inst.big[i] and find(i) not in locked]
        for i in free[1:]:
            unit[find(i)] = find(free[0])
    return [find(i) for i in range(inst.n)], fixed | locked


@dataclass(frozen=True)
class _Units:
    """The free units of a CCG (buildings, practices) joined by their adjacency, with sizes and rurality."""

    #: Adjacency: unit to each neighbouring unit and the shortest distance between them,
    #: in the order networkx would hold them (see :func:`free_units_of`).
    free: dict[int, dict[int, float]]
    sizes: Mapping[int, int]
    rural: Mapping[int, bool]


def free_units_of(inst: Instance, units: Sequence[int], fixed: set[int]) -> _Units:
    """Return the free units (see :func:`units_of`) joined by their shortest adjacency, in metres."""
    sizes: dict[int, int] = {}
    rural: dict[int, bool] = {}
    for i, u in enumerate(units):
        sizes[u] = sizes.get(u, 0) + inst.sizes[i]
        rural[u] = rural.get(u, True) and inst.rural[i]
    free: dict[int, dict[int, float]] = {u: {} for u in sizes if u not in fixed}
    for i, j in inst.edges:
        a, b, km = units[i], units[j], inst.metres(i, j)
        if a != b and a not in fixed and b not in fixed and km < free[a].get(b, float("inf")):
            free[a][b] = free[b][a] = km
    return _Units(free, sizes, rural)


def _edges_of(adjacency: Mapping[int, Iterable[int]]) -> Iterator[tuple[int, int]]:
    """Yield each edge of an adjacency once, as networkx's ``Graph.edges`` does (same order and ends)."""
    seen: set[int] = set()
    for u, neighbours in adjacency.items():
        for v in neighbours:
            if v not in seen:
                yield u, v
        seen.add(u)


def components(adjacency: Mapping[int, Iterable[int]]) -> Iterator[set[int]]:
    """Yield the connected parts of an adjacency as networkx's ``connected_components`` does (same sets)."""
    seen: set[int] = set()
    n = len(adjacency)
    for source in adjacency:
        if source in seen:
            continue
        part, level, left = {source}, [source], n - len(seen)
        while level and len(part) < left:  # breadth first, as networkx's _plain_bfs
            this, level = level, []
            for v in this:
                for w in adjacency[v]:
                    if w not in part:
                        part.add(w)
                        level.append(w)
                if len(part) == left:
                    break
        seen.update(part)
        yield part


def _draws(rng: random.Random, count: int) -> list[float]:
    """Return ``count`` random weights in [0, 1), drawn one after another."""
    return [rng.random() for _ in range(count)]


def recombine_pair(inst: Instance, labels: Sequence[int], rng: random.Random) -> list[int] | None:
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
            for a, b in _edges_of(pool.free)
            if group_of[a] != group_of[b] and not {group_of[a], group_of[b]} & split
        }
    )
    if not pairs:
        return None
    g, h = pairs[rng.randrange(len(pairs))]
    merged = [u for u in pool.free if group_of[u] in (g, h)]
    weighted = nx.Graph()
    weighted.add_nodes_from(merged)
    weighted.add_weighted_edges_from((a, b, rng.random()) for a, b in _induced_edges(pool.free, merged))
    if not nx.is_connected(weighted):  # a group split across buildings: not one area to re-cut
        return None
    found = cut_tree(nx.minimum_spanning_tree(weighted), pool.sizes, pool.rural, inst.rules)
    assert found is not None  # every cut is wanted
    cost, parts = found

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


def warm_start(inst: Instance, *, seed: int, trees: int = 4, target: float | None = None) -> list[int]:
    """Return a good grouping (a label per practice) to start the solver from.

    Buildings stay together. The free units of each connected part are joined by a
    spanning tree, and a dynamic programme over the tree finds the cuts that give the
    fewest groups out of band and not exempt, then the fewest out of band, then the least
    deviation, on a 250-patient size grid. The first tree is the shortest (compact
    groups); the others use random weights. Out-of-band groups are then repaired by
    recombination.

    ``target`` is a bound on the groups out of band and not exempt that no plan can beat.
    Where the grouping misses it, the search widens, one step at a time until it is met:
    four times the recombination rounds; four times the trees; then the practices of a
    building as separate units (the band comes before keeping buildings together, unless
    the rules make that a hard rule), with the trees, then four times the trees. Whole
    buildings are tried with more trees before any is split, so that a grouping that
    splits none is found where more trees suffice. The grouping with the fewest groups out
    of band and not exempt (then the first found) is returned.

    Random weights come from ``random.Random(seed)``: the standard library's generator is
    light to start in a fresh process, where a first plan of a small CCG takes a few ms.
    """
    steps = [(True, trees), (True, 4 * trees)]
    if target is not None and not inst.rules.keep_sites and any(len(site) > 1 for site in inst.sites):
        steps += [(False, trees), (False, 4 * trees)]
    best: tuple[float, list[int]] | None = None
    for sites, tree_count in steps:
        labels, breaking = _warm_start(inst, seed=seed, trees=tree_count, sites=sites, target=target)
        if best is None or breaking < best[0]:
            best = (breaking, labels)
        if target is None or best[0] <= target:
            break
    assert best is not None
    return best[1]


def _breaking(inst: Instance, labels: Sequence[int]) -> float:
    """Return the groups of a grouping out of band and not exempt."""
    parts: dict[int, list[int]] = {}
    for i, g in enumerate(labels):
        parts.setdefault(g, []).append(i)
    return float(sum(inst.status(members) in ("below", "above") for members in parts.values()))


def _warm_start(
    inst: Instance, *, seed: int, trees: int, sites: bool, target: float | None
) -> tuple[list[int], float]:
    """Return one warm start (see :func:`warm_start`) and its groups out of band and not exempt.

    Recombination runs 12 rounds per out-of-band group, and 48 more where the grouping
    misses ``target``.
    """
    units, fixed = units_of(inst, sites=sites)
    free_units = free_units_of(inst, units, fixed)
    free, sizes, rural = free_units.free, free_units.sizes, free_units.rural
    label = {u: u for u in sizes}
    exact = _least_cost_grouping(free_units, inst.rules) if len(free) <= EXACT_UNITS else None
    if exact is not None:  # no cut of a tree, nor any recombination, can do better
        label.update(exact)
        labels = [label[units[i]] for i in range(inst.n)]
        return labels, _breaking(inst, labels)
    rng = random.Random(seed)
    for part in components(free):
        shortest = [(a, b, free[a][b]) for a, b in _induced_edges(free, part)]
        best: tuple[float, dict[int, int]] | None = None
        for t in range(trees if len(part) > 2 else 1):
            edges = shortest
            if t > 0:  # random weights, drawn edge by edge in order
                edges = [(a, b, w) for (a, b, _), w in zip(shortest, _draws(rng, len(shortest)), strict=True)]
            # A later tree only counts when cheaper: cut it only below the best so far.
            below = best[0] if best is not None else float("inf")
            found = cut_tree(_minimum_tree(part, edges), sizes, rural, inst.rules, below=below)
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        assert best is not None
        label.update(best[1])
    _recombine(inst.rules, free_units, label, rng, rounds_per_group=12)
    labels = [label[units[i]] for i in range(inst.n)]
    breaking = _breaking(inst, labels)
    if target is not None and breaking > target:
        _recombine(inst.rules, free_units, label, rng, rounds_per_group=48)
        labels = [label[units[i]] for i in range(inst.n)]
        breaking = _breaking(inst, labels)
    return labels, breaking


def _least_cost_grouping(units: _Units, rules: Rules, *, budget: int = 20_000) -> dict[int, int] | None:
    """Return the grouping of a few free units into connected groups of least cost, weighing every one.

    The cost is the tree partitioner's (:func:`group_cost` less :data:`GROUP_BONUS` per
    group), so no cut of any spanning tree, nor any recombination, beats it. Of groupings
    alike, the first found is kept (each unit's groups are tried cheapest first). Returns
    a group label (a unit) per unit, or ``None`` past ``budget`` groups weighed.
    """
    order = list(units.free)
    bit = {u: 1 << k for k, u in enumerate(order)}
    near = [sum(bit[v] for v in units.free[u]) for u in order]
    sizes = [units.sizes[u] for u in order]
    urban = sum(bit[u] for u in order if not units.rural[u])
    tables = (_closing_table(rules, False), _closing_table(rules, True))
    weighing = Budget(budget)

    def groups_of(first: int, free: int) -> list[tuple[float, int]]:
        # Each connected group of ``free`` units holding ``first``, with its cost; a group is
        # rural only if all its units are.
        found = []
        for mask, total in connected_groups(first, free, near, sizes, weighing):
            rural = not mask & urban
            found.append((_closing_cost(rules, tables[rural], total, rural=rural), mask))
        return sorted(found)  # the cheapest groups first: a good grouping found early prunes the rest

    candidates: dict[int, list[tuple[float, int]]] = {}
    best: list = [float("inf"), None]

    def search(free: int, spent: float, chosen: list[int]) -> None:
        if not free:
            if spent < best[0]:
                best[0], best[1] = spent, list(chosen)
            return
        if spent - GROUP_BONUS * free.bit_count() >= best[0]:
            return  # each group still to form takes off a bonus at most
        if free not in candidates:
            candidates[free] = groups_of((free & -free).bit_length() - 1, free)
        for cost, mask in candidates[free]:
            chosen.append(mask)
            search(free & ~mask, spent + cost, chosen)
            chosen.pop()

    try:
        search((1 << len(order)) - 1, 0.0, [])
    except OverBudgetError:
        return None
    grouping: dict[int, int] = {}
    for mask in best[1] or []:
        members = [u for k, u in enumerate(order) if mask >> k & 1]
        grouping.update((u, members[0]) for u in members)
    return grouping


class OverBudgetError(Exception):
    """An enumeration weighed more groups than its budget."""


@dataclass
class Budget:
    """Groups an enumeration may still weigh: :meth:`spend` raises :class:`OverBudgetError` past them."""

    left: int

    def spend(self) -> None:
        """Count one group weighed."""
        self.left -= 1
        if self.left < 0:
            raise OverBudgetError


def connected_groups(
    first: int,
    free: int,
    near: Sequence[int],
    sizes: Sequence[int],
    budget: Budget,
    *,
    most: float = math.inf,
) -> Iterator[tuple[int, int]]:
    """Yield each connected group of the ``free`` units holding ``first``, once, as (bit mask, list size).

    Units are bits ``0 .. len(near) - 1``; ``near[v]`` is the mask of ``v``'s neighbours.
    A group is grown by each frontier unit in turn (lowest bit first), barring those
    before it, so each comes once. A group over ``most`` patients is dropped with every
    group grown from it (they are larger still). Each group yielded spends one of ``budget``.
    """
    stack = [(1 << first, near[first] & free & ~(1 << first), 1 << first, sizes[first])]
    while stack:
        mask, frontier, barred, total = stack.pop()
        if total > most:
            continue
        budget.spend()
        yield mask, total
        while frontier:
            low = frontier & -frontier
            frontier &= ~low
            barred |= low
            v = low.bit_length() - 1
            grown = mask | low
            stack.append((grown, (frontier | near[v]) & free & ~grown & ~barred, barred, total + sizes[v]))


def current_repaired(inst: Instance, *, seed: int) -> list[int] | None:
    """Return the current PCNs made valid: each connected piece a group, out-of-band groups recombined.

    Practices with no current PCN, practices over the band and locked groups are groups
    of their own (as the rules make them); returns ``None`` without current PCNs.
    """
    if inst.current is None:
        return None
    units, fixed = units_of(inst, sites=False)
    free_units = free_units_of(inst, units, fixed)
    label: dict[int, int] = {}
    for piece in nx.connected_components(
        nx.Graph([(a, b) for a, b in _edges_of(free_units.free) if inst.current[a] == inst.current[b] >= 0])
    ):
        for u in piece:
            label[u] = min(piece)
    for u in free_units.free:
        label.setdefault(u, u)
    _recombine(inst.rules, free_units, label, random.Random(seed))
    return [label.get(units[i], units[i]) for i in range(inst.n)]


def _recombine(
    rules: Rules,
    units: _Units,
    label: dict[int, int],
    rng: random.Random,
    *,
    rounds_per_group: int = 12,
) -> None:
    """Repair out-of-band groups in place by recombination (after GerryChain's ReCom).

    An out-of-band group (exempt or not) is merged with the groups around it (one ring;
    two rings after four failed rounds), a random spanning tree is drawn over the merged
    area, and the tree is re-cut optimally; the new groups are kept when they cost less.
    Wider areas than two rings were tried and repaired fewer groups in more time: a random
    tree over most of a CCG rarely cuts better than the groups it replaces.
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
        g = bad[rng.randrange(len(bad))]
        area = {g}
        for _ring in range(1 if failures.get(g, 0) < 4 else 2):
            area |= {label[v] for u in set().union(*(groups[h] for h in area)) for v in free[u]}
        merged = set().union(*(groups[h] for h in area))
        pairs = _induced_edges(free, merged)
        edges = [(a, b, w) for (a, b), w in zip(pairs, _draws(rng, len(pairs)), strict=True)]
        # The re-cut is kept only when it costs less than the groups it replaces.
        before = sum(costs[h] for h in area)
        found = cut_tree(_minimum_tree(merged, edges), sizes, rural, rules, below=before)
        parts = found[1] if found is not None else {}
        new: dict[int, list[int]] = {}
        for u, part in parts.items():
            new.setdefault(part, []).append(u)
        if found is not None and sum(cost(m) for m in new.values()) < before:
            label.update(parts)
            groups, costs = summary()
            failures.pop(g, None)
        else:
            failures[g] = failures.get(g, 0) + 1


def _induced_edges(adjacency: Mapping[int, Iterable[int]], nodes: Iterable[int]) -> list[tuple[int, int]]:
    """Return ``sorted(graph.subgraph(nodes).edges)`` of the graph of ``adjacency``, without networkx.

    Each edge is oriented as networkx's subgraph view reports it (the end it visits first
    comes first), so that the sorted list, and the random weights drawn along it, are the
    same.
    """
    show = {u for u in nodes if u in adjacency}  # as networkx's show_nodes filter builds it
    order = show if 2 * len(show) < len(adjacency) else [u for u in adjacency if u in show]
    seen: set[int] = set()
    edges: list[tuple[int, int]] = []
    for u in order:
        edges.extend((u, v) for v in adjacency[u] if v in show and v not in seen)
        seen.add(u)
    return sorted(edges)


def _minimum_tree(nodes: Iterable[int], edges: Sequence[tuple[int, int, float]]) -> dict[int, list[int]]:
    """Return the minimum spanning forest of weighted ``edges`` over ``nodes`` (Kruskal), as adjacency.

    Nodes in the order given and each node's neighbours in order of the edges' weight, as
    networkx's ``minimum_spanning_tree`` would build the graph, without its overhead, which
    dominates on small areas.
    """
    tree: dict[int, list[int]] = {u: [] for u in nodes}
    root = {u: u for u in tree}

    def find(u: int) -> int:
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    for a, b, _ in sorted(edges, key=lambda edge: edge[2]):
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
            tree[a].append(b)
            tree[b].append(a)
    return tree


def _postorder(tree: Mapping[int, Iterable[int]], root: int) -> tuple[dict[int, int], list[int]]:
    """Return each unit's parent and the units in depth-first postorder from ``root``.

    Neighbours are visited in the tree's order, as networkx's ``dfs_postorder_nodes`` does.
    """
    parent: dict[int, int] = {root: root}
    order: list[int] = []
    stack = [(root, iter(tree[root]))]
    while stack:
        v, children = stack[-1]
        for c in children:
            if c not in parent:
                parent[c] = v
                stack.append((c, iter(tree[c])))
                break
        else:
            stack.pop()
            order.append(v)
    del parent[root]
    return parent, order


#: The open groups of a unit's subtree by grid step: (least cost of the closed groups,
#: the open group's exact list size); only reachable steps are kept.
_States = dict[int, tuple[float, float]]


def cut_tree(
    tree: Mapping[int, Iterable[int]] | nx.Graph,
    sizes: Mapping[int, int],
    rural: Mapping[int, bool],
    rules: Rules,
    *,
    below: float = float("inf"),
) -> tuple[float, dict[int, int]] | None:
    """Cut a tree of units into subtrees of least total :func:`group_cost`.

    A dynamic programme from the leaves up: a state is the size, in grid steps, of the
    group still open at a unit; each child's open group is either closed (the edge cut)
    or joined. A group is rural when all its units are; each group formed earns
    :data:`GROUP_BONUS`, so of cuts alike under the band rule the one with the most groups
    wins. Ties go to the smallest state, and to a cut over a join. ``tree`` is a
    networkx graph or an adjacency mapping (unit to neighbouring units). Returns the cost
    and a group label (a unit) per unit.

    Only the states a subtree can reach are kept (sparse), which on England's trees is
    several times faster than dense arrays over the whole grid.

    With ``below``, only a cut costing less than ``below`` is wanted: states whose closed
    groups cost so much that no such cut can follow are dropped. A cut costing less is
    still found exactly (the same cut, ties broken alike); otherwise the cut returned
    costs at least ``below``, or is ``None``.
    """
    # A state's closed groups cost at most its cut's cost plus what the groups still to
    # close can take off (a bonus each, a group per unit at most), with room for rounding.
    ceiling = below + GROUP_BONUS * len(tree) + 1.0 + abs(below) * 1e-12 * len(tree)
    top = max(rules.band.high + rules.band.low // 2, max(sizes.values()) + _GRID)
    steps = top // _GRID + 1
    tables = (_closing_table(rules, False), _closing_table(rules, True))
    closings = tuple(partial(_closing_cost, rules, tables[r], rural=bool(r)) for r in (0, 1))
    root = min(tree)
    parent, order = _postorder(tree, root)
    best: dict[int, _States] = {}
    records: dict[int, list[tuple[int, dict[int, int], int]]] = {}
    rural_open: dict[int, bool] = {}
    for v in order:
        # states[s]: least cost of closed groups when the open group has s grid steps, and
        # that open group's exact list size (the grid only indexes states).
        states: _States = {round(sizes[v] / _GRID): (0.0, float(sizes[v]))}
        is_rural = rural[v]
        records[v] = []
        for c in tree[v]:
            if parent.get(c) != v:
                continue
            r = rural_open[c]
            states, join_from, cut_state = _absorb(states, best.pop(c), closings[r], tables[r], steps)
            records[v].append((c, join_from, cut_state))
            if ceiling < float("inf"):
                states = {s: state for s, state in states.items() if state[0] <= ceiling}
                if not states:
                    return None
            is_rural = is_rural and rural_open[c]
        best[v] = states
        rural_open[v] = is_rural
    state, final = -1, float("inf")
    for s, (cost, exact) in sorted(best[root].items()):
        value = cost + closings[rural_open[root]](exact)
        if value < final:
            state, final = s, value
    return final, _walk_back(root, state, records)


def _absorb(
    states: _States, child: _States, closing: Callable[[float], float], table: Sequence[float], steps: int
) -> tuple[_States, dict[int, int], int]:
    """Return a unit's states once a child's open group is closed or joined to its own.

    ``closing`` costs closing the child's open group; ``table`` holds its values up to
    the table's end. Also returns, per state, the child state joined (where a join was
    taken) and the child state closed when the edge is cut. Ties go to the smallest
    state, and to a cut over a join.
    """
    if len(child) == 1:  # a leaf, say: one way to close it, and joins that never compete
        ((s2, (cost2, exact2)),) = child.items()
        size = round(exact2)
        closed = cost2 + (table[size] if size < len(table) else closing(exact2))
        leaf_after: _States = {s1: (cost1 + closed, exact1) for s1, (cost1, exact1) in states.items()}
        leaf_from: dict[int, int] = {}
        for s1, (cost1, exact1) in states.items():
            if s1 + s2 < steps:
                value, cut = cost1 + cost2, leaf_after.get(s1 + s2)
                if cut is None or value < cut[0]:
                    leaf_after[s1 + s2] = (value, exact1 + exact2)
                    leaf_from[s1 + s2] = s2
        return leaf_after, leaf_from, s2
    inf = float("inf")
    ordered = sorted(child.items())
    # Close the child's open group (the edge cut): its cheapest state.
    cut_state, closed, end = -1, inf, len(table)
    for s2, (cost2, exact2) in ordered:
        size = round(exact2)
        value = cost2 + (table[size] if size < end else closing(exact2))
        if value < closed:
            cut_state, closed = s2, value
    # Or join it to this unit's open group (a min-plus convolution; groups past the top
    # of the grid are never worth forming). Of joins alike, the smallest child state.
    opened = sorted(states.items())
    joined: dict[int, float] = {}
    joined_from: dict[int, tuple[int, float]] = {}
    for s2, (cost2, exact2) in ordered:
        room = steps - s2
        for s1, (cost1, exact1) in opened:
            if s1 >= room:
                break
            value = cost1 + cost2
            if value < joined.get(s1 + s2, inf):
                joined[s1 + s2] = value
                joined_from[s1 + s2] = (s2, exact1 + exact2)
    after: _States = {s1: (cost1 + closed, exact1) for s1, (cost1, exact1) in opened}
    join_from: dict[int, int] = {}
    for s, value in joined.items():
        if value < after.get(s, (inf,))[0]:
            s2, exact = joined_from[s]
            after[s] = (value, exact)
            join_from[s] = s2
    return after, join_from, cut_state


def _walk_back(
    root: int, state: int, records: Mapping[int, list[tuple[int, dict[int, int], int]]]
) -> dict[int, int]:
    """Walk the programme's records back down the tree: undo each child's merge in reverse order."""
    groups: dict[int, int] = {}
    stack = [(root, state, root)]
    while stack:
        v, s, label = stack.pop()
        groups[v] = label
        for c, join_from, cut_state in reversed(records[v]):
            s2 = join_from.get(s, -1)
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


def _km(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Return the practices' eastings and northings in km."""
    xy = np.array(inst.xy, dtype=float).reshape(-1, 2) / 1000
    return xy[:, 0], xy[:, 1]


class _Moments:
    """Per-group sums of list size, w*x, w*y and w*(x^2+y^2), for the moment of inertia."""

    def __init__(self, inst: Instance, labels: Sequence[int]) -> None:
        w = np.array(inst.sizes, dtype=float)
        x, y = _km(inst)
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
    seed: int = 0,
) -> list[int]:
    """Make groups more compact: recombine neighbouring groups, then move boundary practices.

    First :func:`recombine_compact` re-cuts pairs of neighbouring groups. Then a move
    takes a practice (with any building-mates in its group) to a neighbouring group
    when both groups stay in band, the group it leaves stays connected, and the groups'
    list-weighted moment of inertia (sum of list size times squared distance to the
    group's centre) falls. Practices over the band and locked groups never move. The
    result is kept only if no earlier stage in ``keep`` gets worse under ``values`` (the
    stage evaluators); else the boundary moves alone are tried, else ``labels`` returned.
    """
    before = values(labels)
    for start in (recombine_compact(inst, labels, seed=seed), list(labels)):
        polished = _move_boundaries(inst, start, passes=passes)
        after = values(polished)
        if all(after[s] <= before[s] for s in keep):
            return polished
    return list(labels)


def _move_boundaries(inst: Instance, labels: Sequence[int], *, passes: int) -> list[int]:
    """Move boundary practices between in-band groups while that lowers their inertia (see :func:`polish`)."""
    labels = list(labels)
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
    return labels


# --------------------------------------------------------------------------------------
# Compactness recombination: two neighbouring groups re-cut along a spanning tree
# --------------------------------------------------------------------------------------


class _Area:
    """Some neighbouring groups as units: a building's practices of one group are one unit.

    ``stats[u]`` sums unit ``u``'s practices as ``(w, wx, wy, w(x^2+y^2), practices,
    practices not rural)``; ``edges`` joins neighbouring units, with the shortest
    distance between them.
    """

    def __init__(self, compactor: _Compactor, members: Sequence[int]) -> None:
        labels, site_of, columns = compactor.labels, compactor.site_of, compactor.columns
        key: dict[tuple[int, int], int] = {}
        unit: dict[int, int] = {}
        groups: list[list[int]] = []
        stats: list[list[float]] = []
        # The sums' columns are never negative, so adding up from the first practice gives
        # the same floats as adding up from 0.0.
        for i in members:
            u = key.setdefault((site_of[i], labels[i]), len(groups)) if i in site_of else len(groups)
            unit[i] = u
            if u < len(groups):  # a building-mate's unit
                groups[u].append(i)
                stats[u] = [a + c for a, c in zip(stats[u], columns[i], strict=True)]
                continue
            groups.append([i])
            stats.append(list(columns[i]))
        self.unit, self.members, self.stats, self.count = unit, groups, stats, len(groups)
        edges: dict[tuple[int, int], float] = {}
        adjacency = compactor.adjacency
        for i in members:
            u = unit[i]
            for j, d in adjacency[i]:
                v = unit.get(j)
                if v is not None and v != u:
                    key2 = (u, v) if u < v else (v, u)
                    edges[key2] = min(d, edges.get(key2, d))
        self.edges = sorted(edges.items())
        total = stats[0]
        for s in stats[1:]:
            total = [a + b for a, b in zip(total, s, strict=True)]
        self.total = total


@dataclass
class _Rooted:
    """A spanning tree of an area's units rooted at unit 0: parents, preorder and subtree sums."""

    tree: list[list[int]]
    parent: list[int]
    order: list[int]
    pre: list[int]
    size: list[int]
    sub: list[Sequence[float]]

    @classmethod
    def of(cls, tree: list[list[int]], stats: Sequence[Sequence[float]]) -> _Rooted:
        n = len(tree)
        parent, order, stack = [-1] * n, [], [0]
        while stack:
            u = stack.pop()
            order.append(u)
            for v in tree[u]:
                if v != parent[u]:
                    parent[v] = u
                    stack.append(v)
        pre = [0] * n
        for k, u in enumerate(order):
            pre[u] = k
        sub = list(stats)  # each sum replaced, never changed in place
        size = [1] * n
        for v in reversed(order[1:]):
            p = parent[v]
            sub[p] = [a + b for a, b in zip(sub[p], sub[v], strict=True)]
            size[p] += size[v]
        return cls(tree, parent, order, pre, size, sub)

    def below(self, v: int) -> set[int]:
        """Return the units below ``v``, ``v`` included."""
        out, stack = {v}, [v]
        while stack:
            u = stack.pop()
            for w in self.tree[u]:
                if w != self.parent[u] and w not in out:
                    out.add(w)
                    stack.append(w)
        return out


#: A cut of a rooted tree: its band cost and inertia, the tree, the units cut above.
_Best = tuple[tuple[float, float], _Rooted, tuple[int, ...]]
#: A pair's band cost and inertia, whether three groups may form, the cost limit, and the
#: best cut of its shortest tree.
_First = tuple[tuple[float, float], bool, float, _Best | None]


class _Compactor:
    """Re-cuts neighbouring groups to make them more compact (see :func:`recombine_compact`)."""

    def __init__(self, inst: Instance, labels: Sequence[int], seed: int) -> None:
        self.inst = inst
        self.labels = list(labels)
        self.rng = random.Random(seed)
        self.fixed = {self.labels[i] for group in inst.fixed_groups() for i in group}
        self.site_of = {i: k for k, site in enumerate(inst.sites) if len(site) > 1 for i in site}
        w = np.asarray(inst.sizes, dtype=float)
        x, y = _km(inst)
        urban = np.array([not r for r in inst.rural], dtype=float)
        self.columns = np.column_stack(
            [w, w * x, w * y, w * (x * x + y * y), np.ones(inst.n), urban]
        ).tolist()
        self.adjacency: list[list[tuple[int, float]]] = [[] for _ in range(inst.n)]
        for i, j in inst.edges:
            d = inst.metres(i, j)
            self.adjacency[i].append((j, d))
            self.adjacency[j].append((i, d))
        self.members: dict[int, list[int]] = {}
        for i, g in enumerate(self.labels):
            self.members.setdefault(g, []).append(i)
        self._costs: dict[tuple[int, int, bool], float] = {}
        # A pair's area and the best cut of its shortest tree (no random draws), by the
        # pair's labels and practices: a pair met again unchanged is not built again.
        self._pairs: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], tuple[_Area, _First | None]] = {}

    def cost(self, piece: Sequence[float]) -> float:
        """Return one group's cost under the band rule from its sums (cached per size and kind)."""
        key = (round(piece[0]), min(int(piece[4]), 2), piece[5] == 0)
        cost = self._costs.get(key)
        if cost is None:
            cost = self._costs[key] = group_cost(self.inst.rules, key[0], practices=key[1], rural=key[2])
        return cost

    def value(
        self, total: Sequence[float], *pieces: Sequence[float], limit: float = float("inf")
    ) -> tuple[float, float] | None:
        """Return the band cost and inertia of ``pieces`` and the rest of ``total``.

        ``None`` when the band cost is above ``limit`` (the inertia is then not computed).
        """
        rest = total
        for p in pieces:
            rest = [a - b for a, b in zip(rest, p, strict=True)]
        band = self.cost(rest)
        for p in pieces:
            band += self.cost(p)
        if band > limit:
            return None
        spread = _inertia(rest)
        for p in pieces:
            spread += _inertia(p)
        return band, spread

    def tree(self, area: _Area, t: int) -> _Rooted | None:
        """Return the area's shortest spanning tree (``t`` 0) or a random one, rooted; ``None`` if split."""
        weights = [d for _, d in area.edges] if t == 0 else _draws(self.rng, len(area.edges))
        tree = _spanning_tree(area.count, [e for e, _ in area.edges], weights)
        return None if tree is None else _Rooted.of(tree, area.stats)

    def relabel(self, old: Sequence[int], pieces: Sequence[Iterable[int]]) -> None:
        """Replace groups ``old`` by ``pieces`` (practice indices), reusing the old labels first."""
        top = max(self.members) + 1
        names = [*old, *range(top, top + len(pieces))]
        for g in old:
            del self.members[g]
        for name, piece in zip(names, pieces, strict=False):
            self.members[name] = sorted(piece)
            for i in piece:
                self.labels[i] = name

    def recut_rings(self, trees: int) -> None:
        """Re-cut each group with its neighbours optimally under the band rule, where more compact.

        The tree partitioner's cut (:func:`cut_tree`) favours more groups among cuts alike
        under the band rule, so a ring whose total allows one group more gains one.
        """
        for g in sorted(self.members):
            if g in self.fixed or g not in self.members:
                continue
            ring = sorted(
                ({self.labels[j] for i in self.members[g] for j, _ in self.adjacency[i]} | {g}) - self.fixed
            )
            if len(ring) < 2:
                continue
            area = _Area(self, [i for h in ring for i in self.members[h]])
            if area.total[0] // self.inst.rules.band.low <= len(ring):
                continue  # no room for one group more
            sizes = {u: round(s[0]) for u, s in enumerate(area.stats)}
            rural = {u: s[5] == 0 for u, s in enumerate(area.stats)}
            before = self._groups_value(
                [[u for u in range(area.count) if self.labels[area.members[u][0]] == h] for h in ring], area
            )
            best: tuple[tuple[float, float], list[list[int]]] | None = None
            for t in range(trees):
                weights = [d for _, d in area.edges] if t == 0 else _draws(self.rng, len(area.edges))
                edges = [(a, b, d) for ((a, b), _), d in zip(area.edges, weights, strict=True)]
                cut = cut_tree(_minimum_tree(range(area.count), edges), sizes, rural, self.inst.rules)
                assert cut is not None  # every cut is wanted
                pieces: dict[int, list[int]] = {}
                for u, part in cut[1].items():
                    pieces.setdefault(part, []).append(u)
                found = self._groups_value(list(pieces.values()), area)
                if best is None or found < best[0]:
                    best = (found, list(pieces.values()))
            if best is not None and best[0][0] <= before[0] + 1e-6 and best[0][1] < before[1] - 1e-9:
                self.relabel(ring, [[i for u in piece for i in area.members[u]] for piece in best[1]])

    def _groups_value(self, groups: Sequence[Sequence[int]], area: _Area) -> tuple[float, float]:
        """Return the band cost and inertia of groups of an area's units."""
        sums = [[sum(area.stats[u][q] for u in group) for q in range(6)] for group in groups]
        return sum(self.cost(p) for p in sums), sum(_inertia(p) for p in sums)

    def recut_pairs(self, passes: int, trees: int) -> None:
        """Re-cut pairs of neighbouring groups into two, or three where the total allows."""
        for _ in range(passes):
            labels = self.labels
            pairs = sorted(
                {
                    (min(labels[i], labels[j]), max(labels[i], labels[j]))
                    for i, j in self.inst.edges
                    if labels[i] != labels[j] and labels[i] not in self.fixed and labels[j] not in self.fixed
                }
            )
            improved = False
            for k in self.rng.sample(range(len(pairs)), len(pairs)):
                g, h = pairs[k]
                if g not in self.members or h not in self.members or not self._touch(g, h):
                    continue
                key = (g, h, tuple(self.members[g]), tuple(self.members[h]))
                cached = self._pairs.get(key)
                if cached is None:
                    area = _Area(self, self.members[g] + self.members[h])
                    cached = self._pairs[key] = (area, self._first_cut(area, h))
                area, first = cached
                cut = self._best_cut(area, first, trees)
                if cut is None:
                    continue
                taken = set().union(*cut)
                rest = [u for u in range(area.count) if u not in taken]
                self.relabel([g, h], [[i for u in piece for i in area.members[u]] for piece in (rest, *cut)])
                improved = True
            if not improved:
                return

    def _touch(self, g: int, h: int) -> bool:
        """Return whether two groups are neighbours."""
        return any(self.labels[j] == h for i in self.members[g] for j, _ in self.adjacency[i])

    def _first_cut(self, area: _Area, h: int) -> _First | None:
        """Return the pair's value and the best cut of the area's shortest tree; ``None`` if split."""
        old_h = [u for u in range(area.count) if self.labels[area.members[u][0]] == h]
        before = self.value(area.total, [sum(area.stats[u][q] for u in old_h) for q in range(6)])
        assert before is not None
        three = area.total[0] >= 3 * self.inst.rules.band.low
        # A cut that costs more under the band rule than the pair is never taken, and never
        # the least either when some cut is taken: only the others are weighed.
        limit = before[0] + 1e-6
        rooted = self.tree(area, 0)
        if rooted is None:
            return None
        best: _Best | None = None
        for found, cuts in self._cuts(area, rooted, three=three, limit=limit):
            if best is None or found < best[0]:
                best = (found, rooted, cuts)
        return before, three, limit, best

    def _best_cut(self, area: _Area, first: _First | None, trees: int) -> list[set[int]] | None:
        """Return the units of each new group but the first of the best cut, if it improves on the pair.

        ``first`` is :meth:`_first_cut` of the area; ``trees - 1`` random trees follow it.
        """
        if first is None or trees < 1:
            return None
        before, three, limit, best = first
        for t in range(1, trees):
            rooted = self.tree(area, t)
            if rooted is None:
                return None
            for found, cuts in self._cuts(area, rooted, three=three, limit=limit):
                if best is None or found < best[0]:
                    best = (found, rooted, cuts)
        if best is None or best[0][0] > limit or best[0][1] >= before[1] - 1e-9:
            return None
        _, rooted, cuts = best
        pieces = [rooted.below(v) for v in cuts]
        if len(pieces) == 2 and pieces[1] <= pieces[0]:
            pieces[0] -= pieces[1]
        return pieces

    def _cuts(
        self, area: _Area, rooted: _Rooted, *, three: bool, limit: float
    ) -> Iterator[tuple[tuple[float, float], tuple[int, ...]]]:
        """Yield each cut of the tree into two (one edge) and, with ``three``, three groups.

        Only cuts that cost at most ``limit`` under the band rule are yielded; a piece that
        alone costs more rules out every cut that forms it (costs are never negative).
        """
        sub, pre, size, total = rooted.sub, rooted.pre, rooted.size, area.total
        edges = rooted.order[1:]  # in preorder: a subtree is a run of the list
        fits = [self.cost(sub[v]) <= limit for v in edges]
        for v, fit in zip(edges, fits, strict=True):
            found = self.value(total, sub[v], limit=limit) if fit else None
            if found is not None:
                yield found, (v,)
        if not three:
            return
        fitting = [k for k, fit in enumerate(fits) if fit]
        for k, a in enumerate(edges):
            end = pre[a] + size[a]
            for m in fitting[bisect_right(fitting, k) :]:
                b = edges[m]
                if pre[b] < end:  # b below a: the groups below b, and below a but not b
                    found = self.value(total, sub[b], [sub[a][q] - sub[b][q] for q in range(6)], limit=limit)
                elif fits[k]:  # two separate branches
                    found = self.value(total, sub[a], sub[b], limit=limit)
                else:
                    continue
                if found is not None:
                    yield found, (a, b)


def recombine_compact(
    inst: Instance, labels: Sequence[int], *, seed: int, passes: int = 3, trees: int = 3, ring_trees: int = 1
) -> list[int]:
    """Return ``labels`` with neighbouring groups re-cut to be more compact (ReCom for compactness).

    First each group and its neighbours are re-cut along their shortest spanning tree
    (and ``ring_trees - 1`` random ones) by the tree partitioner, which among cuts alike
    under the band rule forms the most groups; then each pair of neighbouring groups is
    merged and spanning trees drawn over it (the shortest, then random ones), and every
    cut of a tree into two groups (one edge), or three where the pair's total allows, is
    weighed. A re-cut is taken when it costs no more under the band rule and lowers the
    groups' list-weighted moment of inertia. The practices of a building in one group
    move together, so no building is split that was not; fixed groups never move.
    """
    compactor = _Compactor(inst, labels, seed)
    if ring_trees:
        compactor.recut_rings(ring_trees)
    compactor.recut_pairs(passes, trees)
    return compactor.labels


def _spanning_tree(
    n: int, edges: Sequence[tuple[int, int]], weights: Sequence[float]
) -> list[list[int]] | None:
    """Return the minimum spanning tree's adjacency (Kruskal), or ``None`` if the units are not connected."""
    root = list(range(n))

    def find(u: int) -> int:
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    tree: list[list[int]] = [[] for _ in range(n)]
    joined = 0
    for k in sorted(range(len(edges)), key=weights.__getitem__):
        a, b = edges[k]
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
            tree[a].append(b)
            tree[b].append(a)
            joined += 1
    return tree if joined == n - 1 else None
