"""A lower bound on the compactness stage, by Lagrangian relaxation of "each unit in one group".

The model's compactness of a group is each member's list size times its path (100 m
units, along the group's tree) from the group's root. A path within a group never passes
a practice of another group, so it is no shorter than the shortest path between the same
practices through the free practices of the CCG (those outside the groups no plan
changes): any plan costs at least the sum, over its groups, of each member's list size
times that distance from its root. Groups are sets of units (buildings where the earlier
stages split none, else practices) holding, each, between the band's ends widened by
the patients outside the band the earlier stages left to the free groups.

Pricing each unit at ``lam[u]`` and dropping the rule that every unit lies in exactly
one group leaves one problem per root practice: the cheapest set of units around it,
each costing its distance from the root less its price, within the size window. For
every root at once (numpy), every subset of its nearest units is weighed exactly (a
subset not joined to the root through its own units needs a farther unit too); the
farther units count as a bound of what any set of them can add (every one with a
negative cost taken, then the cheapest per patient to fill the window). Then
``sum(lam)`` plus, for each unit, the least negative cost of a group rooted in it, is no
more than any plan's compactness, whatever the prices: a real bound. The prices start
from each unit's share of a plan's compactness and are improved by subgradient steps
(Polyak's rule aimed at that plan's value, the step per unit scaled by its list size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from footprint.partition._instance import Instance, centres, least_tree, members_of, path_lengths
from footprint.partition.warmstart import units_of

if TYPE_CHECKING:
    from footprint.partition.stages import StageResult

__all__ = ["compactness_bound", "root_costs"]

#: Roots times subsets of their nearest units weighed exactly per step, at most.
SUBSETS = 4_000
#: Nearest units weighed exactly around each root: at least, at most.
NEAREST = (6, 10)
#: Subgradient steps at most, and steps without a better bound before the step is halved.
STEPS = 20
STALL = 15
#: A stand-in for "no path" in the cost matrices (finite, so that products stay numbers).
_FAR = 1e15


@dataclass
class _Problem:
    """The relaxation's arrays: roots (free practices), units, and each root's nearest units."""

    root_unit: np.ndarray  # (roots,) the unit holding each root
    sizes: np.ndarray  # (units,) list size of each unit
    own: np.ndarray  # (roots,) the root's own unit's cost from the root
    near: np.ndarray  # (roots, m) each root's nearest other units
    near_cost: np.ndarray  # (roots, m) their cost from the root (list size times distance)
    far_cost: np.ndarray  # (roots, units) every other unit's cost from the root (inf: near, own or no path)
    subsets: np.ndarray  # (2**m, m) which of the nearest units each subset holds
    fits: np.ndarray  # (roots, 2**m) the root's unit and the subset stay under the window's top
    joined: np.ndarray  # (roots, 2**m) the root's unit and the subset are connected on their own
    need: np.ndarray  # (roots, 2**m) patients still short of the window's bottom
    room: np.ndarray  # (roots, 2**m) patients left under the window's top


def root_costs(inst: Instance, unit: Sequence[int], free: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """Return the free units' practices and, per such practice as root, each free unit's least cost.

    A unit's least cost from a root is its list sizes times their shortest distance from
    the root through the free practices (``inf`` where none joins them): no group's tree
    is shorter. Practices in index order, one row each; units in the order of ``free``.
    """
    index = {u: k for k, u in enumerate(free)}
    practices = [i for i in range(inst.n) if unit[i] in index]
    row = {i: k for k, i in enumerate(practices)}
    m_all = len(practices)
    pairs = [(row[i], row[j], inst.arc_length[i, j]) for i, j in inst.edges if i in row and j in row]
    a, b, length = zip(*pairs, strict=True) if pairs else ((), (), ())
    graph = csr_matrix((length + length, (a + b, b + a)), shape=(m_all, m_all))
    distance = np.minimum(dijkstra(graph, directed=True), _FAR)
    size = np.array([inst.sizes[i] for i in practices], dtype=float)
    member = np.zeros((m_all, len(free)))
    member[np.arange(m_all), [index[unit[i]] for i in practices]] = 1.0
    cost = (distance * size[None, :]) @ member
    cost[cost >= _FAR] = np.inf
    return practices, cost


def _problem(inst: Instance, unit: Sequence[int], free: Sequence[int], low: float, high: float) -> _Problem:
    """Return the relaxation's arrays for the ``free`` units (``unit``: a unit id per practice)."""
    index = {u: k for k, u in enumerate(free)}
    practices, cost = root_costs(inst, unit, free)
    m_all = len(practices)
    size = np.array([inst.sizes[i] for i in practices], dtype=float)
    member = np.zeros((m_all, len(free)))
    member[np.arange(m_all), [index[unit[i]] for i in practices]] = 1.0
    sizes = size @ member
    root_unit = np.array([index[unit[i]] for i in practices])
    roots = np.arange(m_all)
    own = cost[roots, root_unit]
    others = cost.copy()
    others[roots, root_unit] = np.inf
    m = min(len(free) - 1, max(NEAREST[0], min(NEAREST[1], int(math.log2(max(SUBSETS / m_all, 1))))))
    near = np.argsort(others / sizes[None, :], axis=1, kind="stable")[:, :m]
    near_cost = np.take_along_axis(others, near, axis=1)
    far_cost = others.copy()
    np.put_along_axis(far_cost, near, np.inf, axis=1)
    subsets = ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(float)
    size_of = sizes[near] @ subsets.T + sizes[root_unit][:, None]
    # A subset holding a unit with no path from the root is no group of it.
    cut_off = (~np.isfinite(near_cost)).astype(float) @ subsets.T > 0
    return _Problem(
        root_unit=root_unit,
        sizes=sizes,
        own=own,
        near=near,
        near_cost=np.where(np.isfinite(near_cost), near_cost, 0.0),
        far_cost=far_cost,
        subsets=subsets,
        fits=(size_of <= high) & ~cut_off & np.isfinite(own)[:, None],
        joined=_joined(inst, unit, free, root_unit, near),
        need=np.maximum(low - size_of, 0.0),
        room=np.maximum(high - size_of, 0.0),
    )


def _joined(
    inst: Instance, unit: Sequence[int], free: Sequence[int], root_unit: np.ndarray, near: np.ndarray
) -> np.ndarray:
    """Return, per root and subset of its nearest units, whether they and its own unit are connected."""
    index = {u: k for k, u in enumerate(free)}
    touching: list[set[int]] = [set() for _ in free]
    for i, j in inst.edges:
        a, b = index.get(unit[i]), index.get(unit[j])
        if a is not None and b is not None and a != b:
            touching[a].add(b)
            touching[b].add(a)
    roots, m = near.shape
    local = np.concatenate([root_unit[:, None], near], axis=1)  # bit 0: the root's unit
    bits = np.zeros((roots, m + 1), dtype=np.int64)
    for r in range(roots):
        for k, u in enumerate(local[r]):
            bits[r, k] = sum(1 << q for q, v in enumerate(local[r]) if v in touching[u])
    full = (np.arange(2**m, dtype=np.int64)[None, :] << 1) | 1
    reach = np.ones((roots, 2**m), dtype=np.int64)
    for _ in range(m):
        grown = reach.copy()
        for k in range(m + 1):
            grown |= np.where((reach >> k) & 1, bits[:, k : k + 1], 0)
        grown &= full
        if np.array_equal(grown, reach):
            break
        reach = grown
    return reach == full


def _relaxed(p: _Problem, lam: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the Lagrangian bound at prices ``lam`` and its subgradient (1 less each unit's cover)."""
    subset_cost = (p.near_cost - lam[p.near]) @ p.subsets.T
    far = p.far_cost - lam[None, :]
    negative = far < 0
    # Farther units: every one of negative cost taken, then the cheapest per patient to fill.
    taken = np.where(negative, far, 0.0).sum(axis=1)[:, None]
    taken_size = np.where(negative, p.sizes[None, :], 0.0).sum(axis=1)[:, None]
    positive = np.isfinite(far) & ~negative
    per_patient = np.min(np.where(positive, far / p.sizes[None, :], np.inf), axis=1)[:, None]
    cheapest = np.min(np.where(positive, far, np.inf), axis=1)[:, None]
    short = np.maximum(p.need - taken_size, 0.0)
    with np.errstate(invalid="ignore"):
        fill = np.where(short > 0, np.maximum(per_patient * short, cheapest), 0.0)
    # A subset cut off from the root needs a farther unit to join them.
    fill = np.where(p.joined | (taken < 0), fill, np.maximum(fill, cheapest))
    total = np.where(p.fits, subset_cost + taken + fill, np.inf)
    choice = np.argmin(total, axis=1)
    roots = np.arange(len(choice))
    z = p.own - lam[p.root_unit] + total[roots, choice]
    # At most one group is rooted in each unit: its best root, where negative.
    best = np.full(len(p.sizes), np.inf)
    np.minimum.at(best, p.root_unit, z)
    value = float(lam.sum() + np.minimum(best, 0.0).sum())
    chosen = np.flatnonzero((z < 0) & (z <= best[p.root_unit]))
    _, first = np.unique(p.root_unit[chosen], return_index=True)
    chosen = chosen[first]
    cover = np.zeros(len(p.sizes))
    np.add.at(cover, p.root_unit[chosen], 1.0)
    np.add.at(cover, p.near[chosen].ravel(), p.subsets[choice[chosen]].ravel())
    return value, 1.0 - cover


def _shares(inst: Instance, labels: Sequence[int], unit: Sequence[int], free: Sequence[int]) -> np.ndarray:
    """Return each free unit's share of the grouping's compactness (its members' tree distance)."""
    index = {u: k for k, u in enumerate(free)}
    centre_of, adjacency = centres(inst, labels), inst.neighbours()
    share = np.zeros(len(free))
    for members in members_of(labels).values():
        reach = path_lengths(adjacency, inst.arc_length, members, centre_of[members[0]])
        for i in members:
            if unit[i] in index:
                share[index[unit[i]]] += inst.sizes[i] * reach.get(i, 0)
    return share


def compactness_bound(
    inst: Instance,
    done: Mapping[str, StageResult],
    labels: Sequence[int],
    value: float,
    *,
    steps: int = STEPS,
) -> float:
    """Return a bound on the model's compactness no plan meeting the stages ``done`` can beat.

    Parameters
    ----------
    inst
        The CCG.
    done
        The stages already solved, their values held: ``split_sites`` at 0 (or buildings
        kept as a hard rule) makes buildings the units, ``deviation`` the patients the
        free groups may lie outside the band in all.
    labels, value
        A grouping meeting them and its compactness (the prices start from its shares;
        the steps aim at its value and stop on reaching it).
    steps
        Subgradient steps at most.

    Returns
    -------
    float
        A whole number no more than the compactness of any such plan.
    """
    split = done.get("split_sites")
    whole = inst.rules.keep_sites or (split is not None and split.value == 0)
    unit, fixed = units_of(inst, sites=whole)
    fixed_cost = sum(least_tree(inst, group) for group in inst.fixed_groups() if len(group) > 1)
    free = sorted({u for u in unit if u not in fixed})
    if len(free) < 2:  # one group, or none, of free practices: each group as it must be
        alone = [i for i in range(inst.n) if unit[i] in free]
        return float(fixed_cost + (least_tree(inst, alone) if alone else 0.0))
    deviation = done.get("deviation")
    slack = math.inf
    if deviation is not None:
        slack = deviation.value - sum(inst.deviation(group) for group in inst.fixed_groups())
    band, total = inst.rules.band, float(sum(inst.sizes))
    p = _problem(inst, unit, free, max(band.low - slack, 0.0), min(band.high + slack, total))
    target = value - fixed_cost
    # The first prices: each unit's share of the grouping's value, or one price per patient
    # (a few fractions of the grouping's mean), whichever bounds best.
    per_patient = target / float(p.sizes.sum())
    starts = [_shares(inst, labels, unit, free), *(p.sizes * per_patient * f for f in (0.5, 1.0))]
    lam = max(starts, key=lambda start: _relaxed(p, start)[0])
    best, theta, stall = 0.0, 1.0, 0
    for _ in range(steps):
        bound, g = _relaxed(p, lam)
        if bound > best:
            best, stall = bound, 0
        else:
            stall += 1
            if stall >= STALL:
                theta, stall = theta / 2, 0
        scaled = p.sizes * g
        norm = float(scaled @ scaled)
        if norm == 0 or theta < 1e-3 or best >= target:
            break
        step = theta * max(target - bound, 0.01 * target) / norm
        lam = lam + step * p.sizes * scaled
    return float(min(math.floor(fixed_cost + best + 1e-6), math.floor(value)))
