"""The compactness polish: neighbouring groups re-cut along spanning trees, then boundary moves.

Before the compactness stage, :func:`polish` makes the warm start's groups more compact
without making an earlier stage worse. :func:`recombine_compact` re-cuts each group with
its neighbours, and each pair of neighbouring groups, along spanning trees by the tree
partitioner (ReCom for compactness); then boundary practices move between in-band groups.
Both keep a change only when it lowers the groups' list-weighted moment of inertia.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from footprint.partition._instance import Instance
from footprint.partition._tree_cut import _draws, _minimum_tree, cut_tree, group_cost

__all__ = ["polish", "recombine_compact"]


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
