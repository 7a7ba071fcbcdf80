"""Repair's mends: the ways one group breaking the band may be mended, each a change of groups.

Each generator yields changes (:data:`~footprint.partition._repair_start.Change`: group to
its new members and origin) that :func:`footprint.partition._repair_start.repair_start`
weighs: a group merged into a neighbour (:func:`_merges`), given one or two practices by its
neighbours (:func:`_gifts`), carved from a neighbour (:func:`_carves`), shared out among the
groups around it (:func:`_dissolves`), cut along a spanning tree (:func:`_splits`) or giving
practices away (:func:`_sheds`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from footprint.partition._tree_cut import _draws, _induced_edges, _minimum_tree, cut_tree

if TYPE_CHECKING:
    from footprint.partition._repair_start import Change, _State

__all__ = ["MENDS"]

#: Practices tried as the first of two given to a group below the floor (largest first).
PAIR_CANDIDATES = 12
#: Most practices carved from one neighbouring group to bring a group below the floor into band.
CARVE_STEPS = 8
#: Spanning trees along which a group above the ceiling is cut (the shortest, then random ones).
SPLIT_TREES = 16
#: Most practices a group above the ceiling gives to its neighbours to come down to it.
SHED_STEPS = 4
#: Practices tried as the first a group above the ceiling gives (largest first).
SHED_FIRST = 6
#: Most practices of a group shared out among the groups around it.
DISSOLVE_PRACTICES = 6
#: Most ways of sharing out one group tried.
DISSOLVE_TRIES = 64


def _merges(state: _State, g: int) -> Iterable[dict[int, tuple[set[int], int | None]]]:
    """Yield group ``g`` merged into each neighbouring group that may change."""
    members = state.groups[g]
    for h in sorted({state.label[j] for j in state.neighbours(members)} - state.fixed - {g}):
        union = members | state.groups[h]
        owner = state.best_owner(union, state.owner.get(h), state.owner.get(g))
        yield {h: (union, owner), g: (set(), None)}


def _gifts(state: _State, g: int) -> Iterable[dict[int, tuple[set[int], int | None]]]:
    """Yield group ``g`` given one practice next to it, or two, by the groups around it."""
    members = state.groups[g]

    def give(target: set[int], x: int) -> dict[int, tuple[set[int], int | None]] | None:
        h = state.label[x]
        if h in state.fixed or h == g:
            return None
        rest = state.groups[h] - {x}
        if not state.connected(rest):
            return None
        return {h: (rest, state.owner.get(h) if rest else None), g: (target | {x}, state.owner.get(g))}

    candidates = sorted(state.neighbours(members), key=lambda x: (-state.inst.sizes[x], x))
    for x in candidates:
        one = give(members, x)
        if one is not None:
            yield one
    for x in candidates[:PAIR_CANDIDATES]:
        first = give(members, x)
        if first is None:
            continue
        grown = first[g][0]
        for y in sorted(state.neighbours(grown) - {x}, key=lambda y: (-state.inst.sizes[y], y)):
            h_x, h_y = state.label[x], state.label[y]
            if state.label[y] in state.fixed or h_y == g:
                continue
            if h_x == h_y:
                rest = state.groups[h_x] - {x, y}
                if not state.connected(rest):
                    continue
                yield {
                    h_x: (rest, state.owner.get(h_x) if rest else None),
                    g: (grown | {y}, state.owner.get(g)),
                }
            else:
                rest_y = state.groups[h_y] - {y}
                if not state.connected(rest_y):
                    continue
                yield {
                    **first,
                    h_y: (rest_y, state.owner.get(h_y) if rest_y else None),
                    g: (grown | {y}, state.owner.get(g)),
                }


def _carves(state: _State, g: int) -> Iterable[dict[int, tuple[set[int], int | None]]]:
    """Yield group ``g`` grown into band with practices carved from one neighbouring group.

    From each neighbouring group that may change, practices next to ``g`` (as it grows)
    join it one at a time, the neighbour kept whole: the smallest that brings ``g`` into
    band where one does, else the largest that keeps it under the ceiling.
    """
    members = state.groups[g]
    band = state.inst.rules.band
    sizes = state.inst.sizes
    for h in sorted({state.label[j] for j in state.neighbours(members)} - state.fixed - {g}):
        grown, rest = set(members), set(state.groups[h])
        total = state.total(grown)
        for _ in range(CARVE_STEPS):
            if total >= band.low:
                break
            frontier = [x for x in state.neighbours(grown) if x in rest and state.connected(rest - {x})]
            fits = [x for x in frontier if band.low <= total + sizes[x] <= band.high]
            under = [x for x in frontier if total + sizes[x] <= band.high]
            if fits:
                x = min(fits, key=lambda x: (sizes[x], x))
            elif under:
                x = max(under, key=lambda x: (sizes[x], -x))
            else:
                break
            grown.add(x)
            rest.discard(x)
            total += sizes[x]
        if total >= band.low and len(grown) > len(members) + 2:
            yield {h: (rest, state.owner.get(h) if rest else None), g: (grown, state.owner.get(g))}


def _splits(state: _State, g: int) -> Iterable[dict[int, tuple[set[int], int | None]]]:
    """Yield group ``g``, above the ceiling, cut into connected groups along spanning trees of it.

    Each tree (the shortest, then random ones) is cut optimally under the band rule
    (:func:`~footprint.partition._tree_cut.cut_tree`); the part keeping most of the
    group's own practices continues it.
    """
    inst = state.inst
    members = state.groups[g]
    if state.total(members) <= inst.rules.band.high or len(members) < 2:
        return
    adjacency = {i: [j for j in state.rules.adjacency[i] if j in members] for i in sorted(members)}
    pairs = _induced_edges(adjacency, sorted(members))
    rng = random.Random(len(members))
    for k in range(SPLIT_TREES):
        weights = [inst.metres(a, b) for a, b in pairs] if k == 0 else _draws(rng, len(pairs))
        tree = _minimum_tree(sorted(members), [(a, b, w) for (a, b), w in zip(pairs, weights, strict=True)])
        found = cut_tree(
            tree, {i: inst.sizes[i] for i in members}, {i: inst.rural[i] for i in members}, inst.rules
        )
        if found is None:
            continue
        parts: dict[int, set[int]] = {}
        for i, unit in found[1].items():
            parts.setdefault(unit, set()).add(i)
        if len(parts) < 2:
            continue
        owner = state.owner.get(g)
        current = inst.current
        assert current is not None
        keep = max(parts.values(), key=lambda p: (sum(current[i] == owner for i in p), len(p), -min(p)))
        change: dict[int, tuple[set[int], int | None]] = {g: (keep, owner)}
        for part in parts.values():
            if part is not keep:
                state.fresh += 1
                change[state.fresh] = (part, None)
        yield change


def _shed_unit(state: _State, x: int, kept: set[int]) -> set[int]:
    """Return what goes with practice ``x`` when it is given: where buildings weigh, its building."""
    if not (state.deviation_first or state.sites_kept):
        return {x}
    return {x, *(i for i in state.site_of.get(x, ()) if i in kept)}


def _shed_options(state: _State, g: int, kept: set[int], change: Change) -> list[tuple[int, int, int, int]]:
    """Return the practices ``g`` may give, with the group taking each: largest first, then most room."""
    inst, band = state.inst, state.inst.rules.band
    found = []
    for x in sorted(kept, key=lambda x: (-inst.sizes[x], x)):
        units = _shed_unit(state, x, kept)
        if not state.connected(kept - units):
            continue
        size = state.total(units)
        for h in {state.label[j] for j in state.rules.adjacency[x]} - state.fixed - {g}:
            room = band.high - state.total(change.get(h, (state.groups[h], None))[0])
            if size <= room:
                found.append((-size, -room, x, h))
    return sorted(found)


def _sheds(state: _State, g: int) -> Iterable[Change]:
    """Yield group ``g``, above the ceiling, brought down to it by giving practices on its edge to neighbours.

    A practice on its edge that leaves it whole goes to a neighbouring group that stays under
    the ceiling; then, one at a time, the largest such practice goes to the neighbouring
    group with most room, until the group is under it. Each of the first
    :data:`SHED_FIRST` practices (largest first) is tried as the first to go.
    """
    members = state.groups[g]
    if state.total(members) <= state.inst.rules.band.high:
        return
    seen: set[int] = set()
    for first in _shed_options(state, g, set(members), {}):
        if first[2] in seen:
            continue
        seen.add(first[2])
        if len(seen) > SHED_FIRST:
            return
        change: Change = {}
        kept = set(members)
        step: tuple[int, int, int, int] | None = first
        for _ in range(SHED_STEPS):
            if step is None:
                break
            _, _, x, h = step
            units = _shed_unit(state, x, kept)
            kept -= units
            members_h, _ = change.get(h, (state.groups[h], None))
            change[h] = (members_h | units, state.owner.get(h))
            if state.total(kept) <= state.inst.rules.band.high:
                change[g] = (kept, state.owner.get(g))
                yield change
                break
            rest = _shed_options(state, g, kept, change)
            step = rest[0] if rest else None


def _dissolves(state: _State, g: int) -> Iterable[Change]:
    """Yield group ``g``, below the floor, or a small group next to it, shared out among the groups around.

    A group next to ``g`` is shared out only where that mends two groups or more, and at
    least as many groups as practices it moves. Only with ``share_out`` (it mends more
    groups in some CCGs, 92G, and leads the greedy mends to more moves in others, 07K).
    """
    if not state.share_out:
        return
    if state.total(state.groups[g]) < state.inst.rules.band.low:
        yield from _shared_out(state, g)
    for h in sorted({state.label[j] for j in state.neighbours(state.groups[g])} - state.fixed - {g}):
        for change in _shared_out(state, h):
            cost = state.cost(change)
            if cost is not None and cost[0] <= -2 and cost[3] <= -cost[0]:
                yield change


def _shared_out(state: _State, g: int) -> Iterable[Change]:
    """Yield group ``g`` shared out among the groups around it (each practice to one of them).

    A practice goes to a group next to it, or to the group a practice next to it went to,
    so every group stays connected; at most :data:`DISSOLVE_TRIES` ways are tried, and
    only for groups of at most :data:`DISSOLVE_PRACTICES` practices.
    """
    members = state.groups[g]
    inst = state.inst
    if len(members) > DISSOLVE_PRACTICES:
        return
    adjacency = state.rules.adjacency
    # Practices in the order they are reached from the groups around (each next to an earlier one).
    order = sorted(
        (i for i in members if any(state.label[j] != g for j in adjacency[i])),
        key=lambda i: (-inst.sizes[i], i),
    )
    while len(order) < len(members):
        more = [i for i in sorted(members) if i not in order and any(j in order for j in adjacency[i])]
        if not more:
            return
        order.append(more[0])
    around = {state.label[j] for i in order for j in adjacency[i]} - state.fixed - {g}
    outside = {i: sorted({state.label[j] for j in adjacency[i]} & around) for i in order}
    tries = 0
    chosen: dict[int, int] = {}

    def walk(k: int) -> Iterable[Change]:
        nonlocal tries
        if tries >= DISSOLVE_TRIES:
            return
        if k == len(order):
            tries += 1
            change: Change = {g: (set(), None)}
            for i, h in chosen.items():
                group = change.get(h, (state.groups[h], state.owner.get(h)))
                change[h] = (group[0] | {i}, group[1])
            yield change
            return
        i = order[k]
        options = set(outside[i]) | {chosen[j] for j in adjacency[i] if j in chosen}
        for h in sorted(options):
            chosen[i] = h
            yield from walk(k + 1)
            del chosen[i]

    yield from walk(0)


#: Every mend, in the order they are weighed.
MENDS = (_merges, _gifts, _carves, _dissolves, _splits, _sheds)
