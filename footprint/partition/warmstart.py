"""The warm start: a good grouping built before the solver, and a compactness polish.

Buildings and locked groups are units; a spanning tree over each CCG's free units is
cut optimally by a dynamic programme over list sizes (:func:`cut_tree`), out-of-band
groups are repaired by recombination (after GerryChain's ReCom), and before the
compactness stage boundary practices move between in-band groups (:func:`polish`).

Every group is costed by the one band rule (:class:`footprint.config.Rules`), in the
order of the objective stages: a group out of band and not exempt weighs far more than an
exempt one, which weighs far more than any number of patients of deviation.

This module holds the units, the warm start and the recombination that repairs it. Its
parts beside it: the group cost and the tree partitioner in ``_tree_cut``, the
enumeration of connected groups (a CCG of a few free units is grouped exactly) in
``_connected_groups``, and the compactness polish in ``_polish``; :func:`group_cost`,
:func:`polish` and :func:`recombine_compact` are imported from here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from footprint.config import Rules
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance
from footprint.partition._polish import polish, recombine_compact
from footprint.partition._tree_cut import (
    GROUP_BONUS,
    OUT_WEIGHT,
    _closing_cost,
    _closing_table,
    _draws,
    _induced_edges,
    _minimum_tree,
    cut_tree,
    group_cost,
)

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

#: Free units up to which the warm start weighs every grouping instead of cutting trees.
EXACT_UNITS = 10


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
