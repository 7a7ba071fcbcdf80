"""Repair's rules and its start: the existing groups cut into pieces, then mended within the rules.

Repair keeps what works. Its hard rules, besides a plan's (:class:`RepairRules`):

- no in-band group leaves the band: every practice of a piece of an existing group that is
  in band (connected, within its CCG) ends in a group in band (``protected``);
- no group above the ceiling gains patients: a group above the ceiling holds the practices
  of one existing group only (``origin``; an open practice is a group of its own).

Agreed (locked) groups are as agreed: the rules do not look into them.

The start (:func:`repair_start`) cuts each existing group into its connected pieces within
the CCG: the piece with most practices continues the group, the other pieces and the open
practices go where they help at no further cost (their practices move, or are placed,
wherever they go). Then, while a group breaks the band, the best mend that keeps the rules
is made: a group merged into a neighbour, or given one or two practices by its neighbours;
best means most errors mended, then fewest practices moved, then fewest patients. Pairs of
practices kept together are first put together where one joins the other's group (with the
practices between them) within the rules. CP-SAT searches on from this start.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx

from footprint.partition._instance import Instance, match_current, members_of
from footprint.partition._tree_cut import _draws, _induced_edges, _minimum_tree, cut_tree

__all__ = ["RepairRules", "current_pieces", "mended", "repair_rules", "repair_start"]

_BREAKS = ("below", "above")
#: Practices tried as the first of two given to a group below the floor (largest first).
PAIR_CANDIDATES = 12
#: Most practices carved from one neighbouring group to bring a group below the floor into band.
CARVE_STEPS = 8
#: Spanning trees along which a group above the ceiling is cut (the shortest, then random ones).
SPLIT_TREES = 3
#: Most practices a group above the ceiling gives to its neighbours to come down to it.
SHED_STEPS = 4


# --------------------------------------------------------------------------------------
# The pieces of the existing groups, and the rules
# --------------------------------------------------------------------------------------


def current_pieces(inst: Instance) -> tuple[list[int], dict[int, int]]:
    """Return a label per practice (each existing group's connected pieces) and each group's main piece.

    Locked groups are kept whole, practices that must stand alone (over the band) and open
    practices are alone. A piece is labelled by its smallest practice; the main piece of
    existing group ``c`` (``main[c]``) holds the most of its practices (then patients, then
    the smallest index): the one the group's continuation keeps.
    """
    assert inst.current is not None
    lock_of = {i: k for k, group in enumerate(inst.locked) for i in group}
    key: list[tuple[str, int]] = []
    for i in range(inst.n):
        if i in lock_of:
            key.append(("lock", lock_of[i]))
        elif inst.big[i] or inst.current[i] < 0:
            key.append(("alone", i))
        else:
            key.append(("group", inst.current[i]))
    pieces = nx.Graph()
    pieces.add_nodes_from(range(inst.n))
    pieces.add_edges_from((i, j) for i, j in inst.edges if key[i] == key[j])
    labels = [0] * inst.n
    for component in nx.connected_components(pieces):
        root = min(component)
        for i in component:
            labels[i] = root
    main: dict[int, tuple[int, int, int]] = {}
    for label, members in members_of(labels).items():
        kind, c = key[members[0]]
        if kind != "group":
            continue
        rank = (len(members), sum(inst.sizes[i] for i in members), -label)
        if c not in main or rank > main[c]:
            main[c] = rank
    return labels, {c: -rank[2] for c, rank in main.items()}


@dataclass(frozen=True)
class RepairRules:
    """Repair's hard rules on one CCG, checked on any grouping (a label per practice).

    ``protected`` practices (of in-band pieces of existing groups) must end in a group in
    band; a group above the ceiling must hold practices of one ``origin`` (existing group;
    ``-1 - i`` for an open practice ``i``); ``agreed`` practices (locked groups) are left
    out. ``together`` and ``apart`` are pairs of practice indices kept so.
    """

    inst: Instance
    protected: frozenset[int]
    origin: tuple[int, ...]
    agreed: frozenset[int]
    together: tuple[tuple[int, int], ...] = ()
    apart: tuple[tuple[int, int], ...] = ()
    #: Whether the rules of repair hold (false: only the plan's own rules and the pairs).
    active: bool = True

    @cached_property
    def adjacency(self) -> list[list[int]]:
        """Return each practice's neighbours."""
        return self.inst.neighbours()

    def group_ok(self, members: Iterable[int]) -> bool:
        """Return whether one group keeps repair's rules (locked groups always do)."""
        members = list(members)
        if not self.active or any(i in self.agreed for i in members):
            return True
        total = sum(self.inst.sizes[i] for i in members)
        band = self.inst.rules.band
        if any(i in self.protected for i in members) and not band.low <= total <= band.high:
            return False
        return total <= band.high or len({self.origin[i] for i in members}) == 1

    def pairs_ok(self, label_of: Sequence[int]) -> bool:
        """Return whether the grouping keeps every pair together or apart as asked."""
        return all(label_of[a] == label_of[b] for a, b in self.together) and all(
            label_of[a] != label_of[b] for a, b in self.apart
        )

    def breaks(self, labels: Sequence[int]) -> list[list[int]]:
        """Return the groups of ``labels`` that break repair's rules."""
        return [m for m in members_of(labels).values() if not self.group_ok(m)]

    def __call__(self, labels: Sequence[int]) -> bool:
        """Return whether a grouping keeps repair's rules (a check of the model, see ``PartitionModel``)."""
        return not self.breaks(labels)


def repair_rules(
    inst: Instance,
    *,
    together: Sequence[tuple[int, int]] = (),
    apart: Sequence[tuple[int, int]] = (),
    active: bool = True,
) -> RepairRules:
    """Return repair's rules on one CCG: its in-band pieces protected, each practice's origin."""
    assert inst.current is not None
    labels, _ = current_pieces(inst)
    agreed = frozenset(i for group in inst.locked for i in group)
    protected = frozenset(
        i
        for members in members_of(labels).values()
        if inst.current[members[0]] >= 0
        and members[0] not in agreed
        and not inst.big[members[0]]
        and inst.status(members) == "in_band"
        for i in members
    )
    origin = tuple(c if c >= 0 else -1 - i for i, c in enumerate(inst.current))
    return RepairRules(inst, protected, origin, agreed, tuple(together), tuple(apart), active)


# --------------------------------------------------------------------------------------
# The start
# --------------------------------------------------------------------------------------


@dataclass
class _State:
    """A grouping being mended: members and owner (the existing group it continues) per group."""

    inst: Instance
    rules: RepairRules
    breaks: tuple[str, ...]
    label: list[int]
    groups: dict[int, set[int]] = field(default_factory=dict)
    owner: dict[int, int | None] = field(default_factory=dict)
    fixed: set[int] = field(default_factory=set)
    #: The last label given to a new group (labels of new groups lie above the practices').
    fresh: int = 0
    #: Whether patients outside the band weigh before moves (a plan's stages), not after.
    deviation_first: bool = False

    def total(self, members: Iterable[int]) -> int:
        return sum(self.inst.sizes[i] for i in members)

    def error(self, members: Sequence[int] | set[int]) -> int:
        return int(self.inst.status(sorted(members)) in self.breaks)

    def moved(self, members: Iterable[int], owner: int | None) -> tuple[int, int]:
        """Return the practices (and patients) of ``members`` not of their group's ``owner``."""
        current = self.inst.current
        assert current is not None
        out = [i for i in members if current[i] >= 0 and current[i] != owner]
        return len(out), self.total(out)

    def connected(self, members: set[int]) -> bool:
        if not members:
            return True
        start = next(iter(members))
        seen, queue = {start}, deque([start])
        while queue:
            u = queue.popleft()
            for v in self.rules.adjacency[u]:
                if v in members and v not in seen:
                    seen.add(v)
                    queue.append(v)
        return len(seen) == len(members)

    def best_owner(self, members: set[int], *owners: int | None) -> int | None:
        """Return which of ``owners`` keeps most of its practices in ``members`` (the matching's choice)."""
        current = self.inst.current
        assert current is not None
        counts = [(sum(current[i] == o for i in members), o is not None, o) for o in owners]
        best = max(counts, key=lambda c: (c[0], c[1]))
        return best[2] if best[0] > 0 else None

    def cost(self, changed: dict[int, tuple[set[int], int | None]]) -> tuple[int, int, int, int] | None:
        """Return the change in (errors, deviation, moves, patients moved) of replacing groups, or None.

        ``None`` where the change is not allowed (a group not connected, a rule or a pair broken).

        ``changed`` maps a group's label to its new members and owner (empty: the group goes).
        """
        new_label = {i: g for g, (members, _) in changed.items() for i in members}
        errors = deviation = moves = patients = 0
        for g, (members, owner) in changed.items():
            old = self.groups.get(g, set())
            if old:
                errors -= self.error(old)
                deviation -= self.inst.deviation(old)
                m, p = self.moved(old, self.owner.get(g))
                moves, patients = moves - m, patients - p
            if not members:
                continue
            if not self.connected(members) or not self.rules.group_ok(members):
                return None
            errors += self.error(members)
            deviation += self.inst.deviation(members)
            m, p = self.moved(members, owner)
            moves, patients = moves + m, patients + p
        touched = set(new_label)
        after = {
            i: new_label.get(i, self.label[i])
            for pair in (*self.rules.together, *self.rules.apart)
            for i in pair
        }
        for a, b in self.rules.together:
            if (a in touched or b in touched) and after[a] != after[b]:
                return None
        for a, b in self.rules.apart:
            if (a in touched or b in touched) and after[a] == after[b]:
                return None
        return errors, deviation, moves, patients

    def key(self, cost: tuple[int, int, int, int]) -> tuple[int, ...]:
        """Return a change's cost in stage order: errors, then moves (or patients outside the band)."""
        errors, deviation, moves, patients = cost
        return (errors, deviation, moves, patients) if self.deviation_first else (errors, moves, patients)

    def apply(self, changed: dict[int, tuple[set[int], int | None]]) -> None:
        for g, (members, owner) in changed.items():
            if members:
                self.groups[g] = set(members)
                self.owner[g] = owner
                for i in members:
                    self.label[i] = g
            else:
                self.groups.pop(g, None)
                self.owner.pop(g, None)

    def neighbours(self, members: Iterable[int]) -> set[int]:
        """Return the practices next to a group (outside it)."""
        inside = set(members)
        return {j for i in inside for j in self.rules.adjacency[i] if j not in inside}


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


def _sheds(state: _State, g: int) -> Iterable[dict[int, tuple[set[int], int | None]]]:
    """Yield group ``g``, above the ceiling, brought down to it by giving practices on its edge to neighbours.

    The largest practice on its edge that leaves it whole goes to the neighbouring group
    with most room that stays under the ceiling, one at a time, until it is under it.
    """
    inst, band = state.inst, state.inst.rules.band
    members = state.groups[g]
    if state.total(members) <= band.high:
        return
    change: dict[int, tuple[set[int], int | None]] = {}
    kept = set(members)
    for _ in range(SHED_STEPS):
        options = []
        for x in sorted(kept, key=lambda x: (-inst.sizes[x], x)):
            if not state.connected(kept - {x}):
                continue
            for h in {state.label[j] for j in state.rules.adjacency[x]} - state.fixed - {g}:
                room = band.high - state.total(change.get(h, (state.groups[h], None))[0])
                if inst.sizes[x] <= room:
                    options.append((-inst.sizes[x], -room, x, h))
        if not options:
            return
        _, _, x, h = min(options)
        kept.discard(x)
        members_h, _ = change.get(h, (state.groups[h], None))
        change[h] = (members_h | {x}, state.owner.get(h))
        if state.total(kept) <= band.high:
            change[g] = (kept, state.owner.get(g))
            yield change
            return


Change = dict[int, tuple[set[int], int | None]]


def _best_mend(state: _State, g: int) -> tuple[tuple[int, ...], Change] | None:
    """Return the best mend of group ``g`` that lowers the errors (or, in a plan's order, the deviation)."""
    best: tuple[tuple[int, ...], Change] | None = None
    mends = (_merges, _gifts, _carves, _splits, _sheds)
    for change in (change for mend in mends for change in mend(state, g)):
        cost = state.cost(change)
        if cost is None:
            continue
        key = state.key(cost)
        if key < (0,) * len(key) and (best is None or key < best[0]):
            best = (key, change)
    return best


def _near(state: _State, touched: Iterable[int]) -> set[int]:
    """Return the groups within two groups of the ``touched`` ones (whose mends may have changed)."""
    near = {g for g in touched if g in state.groups}
    for _ in range(2):
        near |= {
            state.label[j] for g in list(near) for i in state.groups[g] for j in state.rules.adjacency[i]
        }
    return near


def _mend(state: _State) -> None:
    """Make the best mend of a group that breaks the band, while one lowers the errors.

    Each group's best mend is kept until a mend is made within two groups of it (its mends
    reach no further); the one chosen is costed afresh before it is made.
    """
    cache: dict[int, tuple[tuple[int, ...], Change] | None] = {}
    stale: set[int] | None = None  # None: every group
    for _ in range(2 * state.inst.n + 2):
        errors = [g for g in sorted(state.groups) if g not in state.fixed and state.error(state.groups[g])]
        for g in errors:
            if stale is None or g in stale or g not in cache:
                cache[g] = _best_mend(state, g)
        found = [(best[0], g) for g in errors if (best := cache.get(g)) is not None]
        if not found:
            return
        key, g = min(found)
        change = cache[g][1]  # type: ignore[index]
        cost = state.cost(change)
        if cost is None or state.key(cost) != key:
            stale = {g}  # a pair's partner moved since: cost the group's mends again
            continue
        state.apply(change)
        stale = _near(state, change)
        for gone in [k for k in cache if k not in state.groups]:
            del cache[gone]


def _path(state: _State, a: int, b: int) -> list[int] | None:
    """Return the practices between ``a`` and ``b`` on a shortest path of practices that may move."""
    parent = {a: a}
    queue = deque([a])
    while queue:
        u = queue.popleft()
        if u == b:
            path = []
            while parent[u] != u:
                u = parent[u]
                path.append(u)
            return path[:-1]
        for v in state.rules.adjacency[u]:
            if v not in parent and (v == b or state.label[v] not in state.fixed):
                parent[v] = u
                queue.append(v)
    return None


def _join_pairs(state: _State) -> None:
    """Put each pair kept together in one group: one practice (and those between) joins the other's group."""
    for a, b in state.rules.together:
        if state.label[a] == state.label[b]:
            continue
        options = []
        for x, y in ((a, b), (b, a)):
            between = _path(state, x, y)
            if between is None or state.label[x] in state.fixed or state.label[y] in state.fixed:
                continue
            target = state.label[y]
            joining = {x, *between} - state.groups[target]
            change: dict[int, tuple[set[int], int | None]] = {}
            for i in joining:
                h = state.label[i]
                rest = change.get(h, (state.groups[h], None))[0] - {i}
                change[h] = (rest, state.owner.get(h) if rest else None)
            change[target] = (state.groups[target] | joining, state.owner.get(target))
            cost = state.cost(change)
            if cost is None:
                # Over the ceiling, the group may give practices on its edge to its neighbours.
                change = _room_made(state, change, target, keep={a, b, *joining})
                cost = state.cost(change)
            if cost is not None:
                options.append((cost, sorted(joining), change))
        if options:
            state.apply(min(options, key=lambda o: (o[0], o[1]))[2])


def _room_made(state: _State, change: Change, target: int, *, keep: set[int]) -> Change:
    """Return ``change`` with group ``target`` brought under the ceiling, where it can be.

    Its largest practice on its edge (not one of ``keep``) that leaves it whole goes to the
    neighbouring group with most room that stays in band, one at a time.
    """
    band, sizes = state.inst.rules.band, state.inst.sizes
    change = dict(change)
    members, owner = change[target]
    members = set(members)
    for _ in range(SHED_STEPS):
        if state.total(members) <= band.high:
            break
        options = []
        for x in sorted(members - keep, key=lambda x: (-sizes[x], x)):
            if not state.connected(members - {x}):
                continue
            for j in state.rules.adjacency[x]:
                h = state.label[j] if j not in members else None
                if h is None or h in state.fixed or h == target:
                    continue
                group = change.get(h, (state.groups[h], state.owner.get(h)))[0]
                if j in group and band.low <= state.total(group) + sizes[x] <= band.high:
                    options.append((-sizes[x], state.total(group), x, h))
        if not options:
            break
        _, _, x, h = min(options)
        group, h_owner = change.get(h, (state.groups[h], state.owner.get(h)))
        change[h] = (group | {x}, h_owner)
        members.discard(x)
    change[target] = (members, owner)
    return change


def _join_sites(state: _State) -> None:
    """Put the practices of each building in one group: the one holding most of them, else another."""
    for site in state.inst.sites:
        movable = [i for i in site if state.label[i] not in state.fixed]
        held = sorted({state.label[i] for i in movable})
        if len(held) < 2:
            continue
        order = sorted(
            held, key=lambda g: (-sum(state.label[i] == g for i in movable), state.owner.get(g) is None, g)
        )
        for target in order:
            change: dict[int, tuple[set[int], int | None]] = {}
            for i in movable:
                h = state.label[i]
                if h != target:
                    rest = change.get(h, (state.groups[h], None))[0] - {i}
                    change[h] = (rest, state.owner.get(h) if rest else None)
            change[target] = (state.groups[target] | set(movable), state.owner.get(target))
            if state.cost(change) is not None:
                state.apply(change)
                break


def repair_start(
    inst: Instance, rules: RepairRules, *, split_large: bool = False, plan_order: bool = False
) -> list[int]:
    """Return repair's start: the existing groups in pieces, pairs put together, groups mended greedily.

    The pieces keep ``rules`` by construction (each lies in one existing group, in band
    where it was); every mend keeps them too, and keeps every group connected. With
    ``plan_order`` (a start for a plan's moves stage) buildings are put together first and
    patients outside the band weigh before moves.
    """
    assert inst.current is not None
    labels, main = current_pieces(inst)
    breaks = _BREAKS if split_large else ("below",)
    state = _State(inst, rules, breaks, labels, fresh=inst.n, deviation_first=plan_order)
    lock_labels = {labels[group[0]] for group in inst.locked}
    for g, members in members_of(labels).items():
        state.groups[g] = set(members)
        c = inst.current[members[0]]
        state.owner[g] = c if c >= 0 and main.get(c) == g else None
        if g in lock_labels or (len(members) == 1 and inst.big[members[0]]):
            state.fixed.add(g)
    if plan_order:
        _join_sites(state)
    _join_pairs(state)
    _mend(state)
    return state.label


def mended(
    inst: Instance, rules: RepairRules, labels: Sequence[int], *, split_large: bool = False
) -> list[int]:
    """Return a grouping within ``rules`` (a search's) with its groups that break the band mended greedily.

    Each group continues the existing group matched to it (the transfer distance's matching).
    """
    assert inst.current is not None
    breaks = _BREAKS if split_large else ("below",)
    state = _State(inst, rules, breaks, list(labels), fresh=max(max(labels), inst.n) + 1)
    groups = members_of(labels)
    root_of = [min(groups[labels[i]]) for i in range(inst.n)]
    owner_of = {root: c for c, root in match_current(inst, root_of).items()}
    agreed = {i for group in inst.locked for i in group}
    for g, members in groups.items():
        state.groups[g] = set(members)
        state.owner[g] = owner_of.get(min(members))
        if any(i in agreed for i in members) or (len(members) == 1 and inst.big[members[0]]):
            state.fixed.add(g)
    _mend(state)
    return state.label
