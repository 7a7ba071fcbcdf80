"""A bound on the compactness stage from its connected groups (the plan itself is not changed).

Where the stages before compactness leave no room (every group of free practices in
band, no building split: most CCGs), a plan is a partition of the free units (buildings
and practices outside them; the groups no plan changes kept) into connected groups in
band. Those groups are enumerated once (``connected_groups``, within a budget), each
priced at its least tree distance through its own practices (the model's figure). Prices
per unit (a Lagrangian relaxation of "each unit in exactly one group", improved by
subgradient steps aimed at the plan found) then bound every partition from below.

Elsewhere (room left by the earlier stages, a split building, too many groups to
enumerate) the bound comes from :func:`footprint.partition._compact_bound.compactness_bound`.
Either way the bound is only a figure: it tells how far the plan found may lie from the
least compactness, so :func:`footprint.partition.solve.run_stages` reports a gap for
every CCG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from footprint.partition._compact_bound import compactness_bound, least_tree
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance, members_of
from footprint.partition.warmstart import units_of

if TYPE_CHECKING:
    from footprint.partition.stages import StageResult

__all__ = ["COLUMN_BUDGET", "compactness_lower_bound", "model_compactness"]

#: Connected groups enumerated per CCG, at most (else the bound of ``_compact_bound``).
COLUMN_BUDGET = 10_000
#: Subgradient steps on the prices, at most; steps without a better bound before halving.
STEPS = 120
STALL = 20


def model_compactness(inst: Instance, labels: Sequence[int]) -> float:
    """Return the model's compactness of a grouping: each group's least tree distance over its roots."""
    groups = members_of(labels).values()
    return float(sum(least_tree(inst, members) for members in groups if len(members) > 1))


def compactness_lower_bound(
    inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int], *, columns: int = COLUMN_BUDGET
) -> float:
    """Return a bound on the compactness no plan of ``inst`` meeting the stages ``done`` beats.

    Parameters
    ----------
    inst
        The CCG.
    done
        The stages before compactness, their values held.
    labels
        A grouping that meets them (the prices aim at its compactness).
    columns
        Connected groups enumerated at most; beyond it, the bound of
        :func:`~footprint.partition._compact_bound.compactness_bound`.

    Returns
    -------
    float
        No more than the model's compactness of ``labels``, nor of any plan meeting ``done``.
    """
    start = model_compactness(inst, labels)
    found = _columns(inst, done, columns)
    if found is None:
        return compactness_bound(inst, done, labels, start)
    # The groups no plan changes cost what they cost in every plan.
    fixed = sum(least_tree(inst, group) for group in inst.fixed_groups() if len(group) > 1)
    return min(fixed + found.bound(labels), start)


def _room_left(inst: Instance, done: Mapping[str, StageResult]) -> bool:
    """Return whether the stages in ``done`` leave free groups out of band or buildings split."""
    if "moves" in done or any(name not in done for name in ("out_of_band_all", "deviation")):
        return True
    fixed = inst.fixed_groups()
    out = sum(inst.status(group) != "in_band" for group in fixed)
    deviation = sum(inst.deviation(group) for group in fixed)
    split = done.get("split_sites")
    whole = inst.rules.keep_sites or (split is not None and split.value == 0)
    return not whole or done["out_of_band_all"].value > out or done["deviation"].value > deviation


class _Columns:
    """The connected groups in band of a CCG's free units, priced from below, and their prices."""

    def __init__(
        self, inst: Instance, unit: list[int], free: list[int], masks: list[int], near: list[int]
    ) -> None:
        self.inst, self.unit, self.free, self.masks, self.near = inst, unit, free, masks, near
        practices_of: list[list[int]] = [[] for _ in free]
        index = {u: k for k, u in enumerate(free)}
        for i in range(inst.n):
            if unit[i] in index:
                practices_of[index[unit[i]]].append(i)
        self.practices_of = practices_of
        self.sizes = np.array([sum(inst.sizes[i] for i in ps) for ps in practices_of], dtype=float)
        self.bits = [_bits(mask) for mask in masks]
        self.cost = self._least_costs()
        rows = [k for bits in self.bits for k in bits]
        cols = [c for c, bits in enumerate(self.bits) for _ in bits]
        self.cover = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(free), len(masks)))
        self.held_by = self.cover.T.tocsr()  # group -> its units

    def _least_costs(self) -> np.ndarray:
        """Return each group's least tree distance over its roots, paths within the group (the model's)."""
        inst = self.inst
        practices = [i for ps in self.practices_of for i in ps]
        row = {i: k for k, i in enumerate(practices)}
        arc = np.full((len(practices), len(practices)), np.inf)
        np.fill_diagonal(arc, 0.0)
        for i, j in inst.edges:
            if i in row and j in row:
                arc[row[i], row[j]] = arc[row[j], row[i]] = inst.arc_length[i, j]
        size = np.array([inst.sizes[i] for i in practices], dtype=float)
        members = [[row[i] for k in bits for i in self.practices_of[k]] for bits in self.bits]
        cost = np.zeros(len(members))
        by_count: dict[int, list[int]] = {}
        for c, group in enumerate(members):
            by_count.setdefault(len(group), []).append(c)
        for count, which in by_count.items():
            for chunk in range(0, len(which), 2048):
                ids = np.array(which[chunk : chunk + 2048])
                p = np.array([members[c] for c in ids]).reshape(len(ids), count)
                # Shortest paths within each group (Floyd-Warshall on its own arcs), then the
                # least, over its roots, of list size times distance from the root.
                d = arc[p[:, :, None], p[:, None, :]]
                for k in range(count):
                    np.minimum(d, d[:, :, k : k + 1] + d[:, k : k + 1, :], out=d)
                cost[ids] = (d * size[p][:, None, :]).sum(axis=2).min(axis=1)
        return cost

    def _prices(self, target: float) -> tuple[np.ndarray, float]:
        """Return prices per unit from subgradient steps aimed at ``target``, and the best bound they gave."""
        lam = np.zeros(len(self.free))
        best_lam, best = lam, -math.inf
        theta, stall = 1.0, 0
        for _ in range(STEPS):
            reduced = self.cost - self.held_by @ lam
            taken = reduced < 0
            value = float(lam.sum() + reduced[taken].sum())
            if value > best:
                best, best_lam, stall = value, lam, 0
            else:
                stall += 1
                if stall >= STALL:
                    theta, stall = theta / 2, 0
            g = 1.0 - self.cover @ taken.astype(float)
            norm = float(g @ g)
            if norm == 0 or theta < 1e-3 or best >= target - 1e-6:
                break
            lam = lam + theta * max(target - value, 1e-3 * abs(target)) / norm * g
        return best_lam, best

    def bound(self, labels: Sequence[int]) -> float:
        """Return the bound the prices give alone (aimed at the grouping ``labels``)."""
        start = self._start(labels)
        return self._prices(start[0] if start else float(self.cost.sum()))[1]

    def _start(self, labels: Sequence[int]) -> tuple[float, list[int]] | None:
        """Return the start's priced cost and groups, if every one of its free groups is a column."""
        index = {mask: c for c, mask in enumerate(self.masks)}
        unit_bit = {u: k for k, u in enumerate(self.free)}
        groups = []
        for members in members_of(labels).values():
            mask = 0
            for i in members:
                if self.unit[i] in unit_bit:
                    mask |= 1 << unit_bit[self.unit[i]]
            if mask:
                if mask not in index:
                    return None
                groups.append(index[mask])
        return float(sum(self.cost[c] for c in groups)), groups


def _bits(mask: int) -> list[int]:
    """Return the positions of a mask's set bits, lowest first."""
    return [k for k in range(mask.bit_length()) if mask >> k & 1]


def _columns(inst: Instance, done: Mapping[str, StageResult], budget: int) -> _Columns | None:
    """Return the connected groups in band of ``inst``'s free units, or ``None`` where they settle nothing.

    ``None`` where the stages before leave room (see :func:`_room_left`), a unit cannot
    be in band, or the groups number more than ``budget``.
    """
    if _room_left(inst, done):
        return None
    unit, fixed = units_of(inst, sites=True)
    free = sorted({u for u in unit if u not in fixed})
    if not free:
        return None
    bit = {u: k for k, u in enumerate(free)}
    sizes = [0] * len(free)
    for i in range(inst.n):
        if unit[i] in bit:
            sizes[bit[unit[i]]] += inst.sizes[i]
    near = [0] * len(free)
    for i, j in inst.edges:
        a, b = bit.get(unit[i]), bit.get(unit[j])
        if a is not None and b is not None and a != b:
            near[a] |= 1 << b
            near[b] |= 1 << a
    band, left = inst.rules.band, Budget(budget)
    everything = (1 << len(free)) - 1
    masks = []
    try:
        for k in range(len(free)):
            higher = everything & ~((1 << k) - 1)
            for mask, total in connected_groups(k, higher, near, sizes, left, most=band.high):
                if total >= band.low:
                    masks.append(mask)
            # Units taken first hold the most groups (each unit's are those of it and the
            # units after it): where those so far, as many again for every unit, overrun
            # the budget, stop now rather than at the end.
            if (budget - left.left) * len(free) > 4 * budget * (k + 1):
                return None
    except OverBudgetError:
        return None
    covered = 0
    for mask in masks:
        covered |= mask
    if covered != everything:
        return None
    return _Columns(inst, unit, free, masks, near)
