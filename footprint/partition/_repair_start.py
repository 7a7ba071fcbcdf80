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
from dataclasses import dataclass, field, replace
from functools import cached_property

import networkx as nx

from footprint.config import BREAKS
from footprint.partition._instance import Instance, match_current, members_of
from footprint.partition._repair_mends import MENDS, SHED_STEPS, SPLIT_TREES, _sheds, _splits
from footprint.partition._tree_cut import _draws, _induced_edges, _minimum_tree, cut_tree

__all__ = ["RepairRules", "current_pieces", "mended", "repair_rules", "repair_start"]


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

    def group_ok(self, members: Iterable[int], *, band_kept: bool = True) -> bool:
        """Return whether one group keeps repair's rules (locked groups always do).

        Without ``band_kept``, only the rule on groups above the ceiling is checked.
        """
        members = list(members)
        if not self.active or not self.agreed.isdisjoint(members):
            return True
        total = sum(self.inst.sizes[i] for i in members)
        band = self.inst.rules.band
        if band_kept and not band.low <= total <= band.high and not self.protected.isdisjoint(members):
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


#: A change of groups: label to new members and owner (empty members: the group goes).
Change = dict[int, tuple[set[int], int | None]]


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
    #: Whether patients outside the band and buildings split weigh before moves (a plan's
    #: stages), not after.
    deviation_first: bool = False
    #: Whether no change may split a building (a start for a plan that splits none).
    sites_kept: bool = False
    #: Whether groups may be shared out among the groups around them (see ``_dissolves``).
    share_out: bool = True
    #: Whether a change may leave a group of an in-band group out of band (for mends to bring back).
    lenient: bool = False
    #: Each group's figures as :meth:`figures` gives them, kept until :meth:`apply` changes it
    #: (a group's mends are costed many times over while it stays as it is).
    known: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    #: What :meth:`judged` said of each group (practices, owner, lenient) costed so far.
    judgements: dict[tuple[frozenset[int], int | None, bool], tuple[int, int, int, int] | None] = field(
        default_factory=dict
    )

    @cached_property
    def site_of(self) -> dict[int, list[int]]:
        """Return, for each practice sharing a building, that building's movable practices."""
        sites = [[i for i in site if not self.inst.big[i]] for site in self.inst.sites]
        return {i: site for site in sites if len(site) > 1 for i in site}

    def split_sites(self, new_label: dict[int, int]) -> int:
        """Return the change in buildings split when the practices of ``new_label`` take those labels."""
        touched = {id(self.site_of[i]): self.site_of[i] for i in new_label if i in self.site_of}
        change = 0
        for site in touched.values():
            before = len({self.label[i] for i in site}) > 1
            after = len({new_label.get(i, self.label[i]) for i in site}) > 1
            change += int(after) - int(before)
        return change

    def total(self, members: Iterable[int]) -> int:
        return sum(self.inst.sizes[i] for i in members)

    def error(self, members: Sequence[int] | set[int]) -> int:
        return int(self.inst.status(sorted(members)) in self.breaks)

    def judged(self, members: set[int], owner: int | None) -> tuple[int, int, int, int] | None:
        """Return a group's :meth:`figures`, or ``None`` where it is not connected or breaks a rule.

        Kept per set of practices and owner: the mends of a group are costed again after
        every change near it, and the same groups recur.
        """
        key = (frozenset(members), owner, self.lenient)
        if key not in self.judgements:
            allowed = self.connected(members) and self.rules.group_ok(members, band_kept=not self.lenient)
            self.judgements[key] = self.figures(members, owner) if allowed else None
        return self.judgements[key]

    def figures(self, members: set[int], owner: int | None) -> tuple[int, int, int, int]:
        """Return a group's errors, deviation, practices moved and patients moved (owned by ``owner``)."""
        return (self.error(members), self.inst.deviation(members), *self.moved(members, owner))

    def moved(self, members: Iterable[int], owner: int | None) -> tuple[int, int]:
        """Return the practices (and patients) of ``members`` not of their group's ``owner``."""
        current = self.inst.current
        assert current is not None
        out = [i for i in members if current[i] >= 0 and current[i] != owner]
        return len(out), self.total(out)

    def connected(self, members: set[int]) -> bool:
        if not members:
            return True
        return len(_component(self, members, next(iter(members)))) == len(members)

    def best_owner(self, members: set[int], *owners: int | None) -> int | None:
        """Return which of ``owners`` keeps most of its practices in ``members`` (the matching's choice)."""
        current = self.inst.current
        assert current is not None
        counts = [(sum(current[i] == o for i in members), o is not None, o) for o in owners]
        best = max(counts, key=lambda c: (c[0], c[1]))
        return best[2] if best[0] > 0 else None

    def cost(self, changed: dict[int, tuple[set[int], int | None]]) -> tuple[int, int, int, int, int] | None:
        """Return the change in (errors, deviation, buildings split, moves, patients moved) of a change.

        ``None`` where the change is not allowed (a group not connected, a rule or a pair broken).


        ``changed`` maps a group's label to its new members and owner (empty: the group goes).
        """
        new_label = {i: g for g, (members, _) in changed.items() for i in members}
        errors = deviation = moves = patients = 0
        for g, (members, owner) in changed.items():
            if g in self.groups:
                if g not in self.known:
                    self.known[g] = self.figures(self.groups[g], self.owner.get(g))
                e, d, m, p = self.known[g]
                errors, deviation, moves, patients = errors - e, deviation - d, moves - m, patients - p
            if not members:
                continue
            judged = self.judged(members, owner)
            if judged is None:
                return None
            e, d, m, p = judged
            errors, deviation, moves, patients = errors + e, deviation + d, moves + m, patients + p
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
        split = self.split_sites(new_label) if self.deviation_first or self.sites_kept else 0
        if self.sites_kept and split > 0:
            return None
        return errors, deviation, split, moves, patients

    def key(self, cost: tuple[int, int, int, int, int]) -> tuple[int, ...]:
        """Return a change's cost in stage order: errors, (deviation, buildings split,) moves, patients."""
        errors, deviation, split, moves, patients = cost
        if self.deviation_first:
            return errors, deviation, split, moves, patients
        return errors, moves, patients

    def apply(self, changed: dict[int, tuple[set[int], int | None]]) -> None:
        for g, (members, owner) in changed.items():
            self.known.pop(g, None)
            if members:
                self.groups[g] = set(members)
                self.owner[g] = owner
                for i in members:
                    self.label[i] = g
            else:
                self.groups.pop(g, None)
                self.owner.pop(g, None)

    def copy(self) -> _State:
        """Return a copy that may change apart from this state."""
        groups = {g: set(m) for g, m in self.groups.items()}
        owner, fixed, known = dict(self.owner), set(self.fixed), dict(self.known)
        return replace(self, label=list(self.label), groups=groups, owner=owner, fixed=fixed, known=known)

    def neighbours(self, members: Iterable[int]) -> set[int]:
        """Return the practices next to a group (outside it)."""
        inside = set(members)
        return {j for i in inside for j in self.rules.adjacency[i] if j not in inside}


def _best_mend(state: _State, g: int) -> tuple[tuple[int, ...], Change] | None:
    """Return the best mend of group ``g`` that lowers the errors (or, in a plan's order, the deviation)."""
    best: tuple[tuple[int, ...], Change] | None = None
    for change in (change for mend in MENDS for change in mend(state, g)):
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
            steps = _two_steps(state, errors)
            if steps is None:
                return
            for change in steps:
                state.apply(change)
            stale = None
            cache.clear()
            continue
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


def _two_steps(state: _State, errors: Sequence[int]) -> list[Change] | None:
    """Return a cut or shed of a group above the ceiling and a mend of a group it leaves, lowering the errors.

    Where no one mend lowers the errors, a group above the ceiling may still be cut (or give
    practices) into groups one of which is out of band, and that one then mended: the best
    such pair of changes that lowers the errors, or ``None``.
    """
    best: tuple[tuple[int, ...], list[Change]] | None = None
    high = state.inst.rules.band.high
    for g in errors:
        if state.total(state.groups[g]) <= high:
            continue
        for first in (*_splits(state, g), *_sheds(state, g)):
            cost = state.cost(first)
            if cost is None:
                continue
            trial = state.copy()
            trial.apply(first)
            for h in sorted(h for h in first if h in trial.groups and trial.error(trial.groups[h])):
                mend = _best_mend(trial, h)
                then = trial.cost(mend[1]) if mend is not None else None
                if mend is None or then is None:
                    continue
                key = state.key(tuple(a + b for a, b in zip(cost, then, strict=True)))  # type: ignore[arg-type]
                if key < (0,) * len(key) and (best is None or key < best[0]):
                    best = (key, [first, mend[1]])
    return None if best is None else best[1]


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
        joins = []
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
            # A group the path leaves may fall into pieces: each piece is then a group.
            change = _pieces_apart(state, change)
            joins.append((change, {x, y, *between}))
            cost = state.cost(change)
            if cost is None:
                # Over the ceiling, the group may give practices on its edge to its neighbours.
                change = _room_made(state, change, target, keep={a, b, *joining})
                cost = state.cost(change)
            if cost is not None:
                options.append((state.key(cost), sorted(joining), change))
        if not options:
            # The groups the pair's path runs through, taken together and cut anew, the path in one.
            for change, path in joins:
                for recut in _recuts(state, change, keep=path):
                    if (cost := state.cost(recut)) is not None:
                        options.append((state.key(cost), sorted(path), recut))
        if not options:
            options = _lenient_joins(state, joins)
        if options:
            state.apply(min(options, key=lambda o: (o[0], o[1]))[2])


def _lenient_joins(
    state: _State, joins: Sequence[tuple[Change, set[int]]]
) -> list[tuple[tuple[int, ...], list[int], Change]]:
    """Return the joins that leave groups of in-band groups out of band, for the mends to bring back.

    Each is tried and mended on a copy: ranked by the groups then left breaking repair's
    rules, then the errors.
    """
    state.lenient = True
    lenient = [(change, path) for change, path in joins if state.cost(change) is not None]
    state.lenient = False
    options: list[tuple[tuple[int, ...], list[int], Change]] = []
    for change, path in lenient:
        trial = state.copy()
        trial.apply(change)
        _mend(trial)
        errors = sum(trial.error(m) for m in trial.groups.values())
        options.append(((len(trial.rules.breaks(trial.label)), errors), sorted(path), change))
    return options


def _recuts(state: _State, change: Change, *, keep: set[int]) -> Iterable[Change]:
    """Yield the groups of ``change`` taken together and cut anew along spanning trees, ``keep`` in one group.

    Each tree (the shortest, then random ones) is cut optimally under the band rule
    (:func:`~footprint.partition._tree_cut.cut_tree`); each group of ``change`` continues
    as the part holding most of its existing group's practices, the other parts are new.
    """
    inst = state.inst
    current = inst.current
    assert current is not None
    members = {i for group, _ in change.values() for i in group}
    if len(members) < 2 or not keep <= members:
        return
    rep = min(keep)
    unit_of = {i: rep if i in keep else i for i in members}
    units = sorted(set(unit_of.values()))
    adjacency: dict[int, set[int]] = {u: set() for u in units}
    sizes = dict.fromkeys(units, 0)
    rural = dict.fromkeys(units, True)
    for i in members:
        sizes[unit_of[i]] += inst.sizes[i]
        rural[unit_of[i]] &= inst.rural[i]
        adjacency[unit_of[i]] |= {unit_of[j] for j in state.rules.adjacency[i] if j in members} - {unit_of[i]}
    pairs = _induced_edges(adjacency, units)
    rng = random.Random(len(members))
    for k in range(SPLIT_TREES):
        weights = [inst.metres(a, b) for a, b in pairs] if k == 0 else _draws(rng, len(pairs))
        tree = _minimum_tree(units, [(a, b, w) for (a, b), w in zip(pairs, weights, strict=True)])
        found = cut_tree(tree, sizes, rural, inst.rules)
        if found is None:
            continue
        parts: dict[int, set[int]] = {}
        for i in members:
            parts.setdefault(found[1][unit_of[i]], set()).add(i)
        left = list(parts.values())
        out: Change = {}
        for g, (_, owner) in sorted(change.items()):
            best = max(left, key=lambda p: (sum(current[i] == owner for i in p), -min(p)), default=None)
            if best is not None and owner is not None and any(current[i] == owner for i in best):
                out[g] = (best, owner)
                left.remove(best)
            else:
                out[g] = (set(), None)
        for part in left:
            state.fresh += 1
            out[state.fresh] = (part, None)
        yield out


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
            # A group the building leaves may fall into pieces: each piece is then a group (mended later).
            change = _pieces_apart(state, change)
            if state.cost(change) is not None:
                state.apply(change)
                break


def _pieces_apart(state: _State, change: Change) -> Change:
    """Return ``change`` with each group not connected cut into its pieces (new groups but the largest)."""
    out: Change = {}
    for g, (members, owner) in change.items():
        if state.connected(members):
            out[g] = (members, owner)
            continue
        left, pieces = set(members), []
        while left:
            piece = _component(state, left, next(iter(sorted(left))))
            pieces.append(piece)
            left -= piece
        current = state.inst.current
        assert current is not None
        pieces.sort(key=lambda p: (-sum(current[i] == owner for i in p), -len(p), min(p)))
        out[g] = (pieces[0], owner)
        for piece in pieces[1:]:
            state.fresh += 1
            out[state.fresh] = (piece, None)
    return out


def _component(state: _State, members: set[int], start: int) -> set[int]:
    """Return the practices of ``members`` connected to ``start`` within them."""
    adjacency = state.rules.adjacency
    seen, stack = {start}, [start]
    while stack:
        for v in adjacency[stack.pop()]:
            if v in members and v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


def repair_start(
    inst: Instance,
    rules: RepairRules,
    *,
    split_large: bool = False,
    plan_order: bool = False,
    sites_kept: bool = False,
    share_out: bool = True,
) -> list[int]:
    """Return repair's start: the existing groups in pieces, pairs put together, groups mended greedily.

    The pieces keep ``rules`` by construction (each lies in one existing group, in band
    where it was); every mend keeps them too, and keeps every group connected. With
    ``plan_order`` (a start for a plan's moves stage) buildings are put together first and
    patients outside the band and buildings split weigh before moves; with ``sites_kept`` no
    mend splits a building; without ``share_out`` no group is shared out among the groups
    around it.
    """
    assert inst.current is not None
    labels, main = current_pieces(inst)
    breaks = BREAKS if split_large else ("below",)
    state = _State(
        inst,
        rules,
        breaks,
        labels,
        fresh=inst.n,
        deviation_first=plan_order,
        sites_kept=sites_kept,
        share_out=share_out,
    )
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
    breaks = BREAKS if split_large else ("below",)
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
