"""A bound on the compactness stage from its connected groups (the plan itself is not changed).

Where the stages before compactness leave no room (every group of free practices in
band, no building split: most CCGs), a plan is a partition of the free units (buildings
and practices outside them; the groups no plan changes kept) into connected groups in
band. Those groups are enumerated once (``connected_groups``, within a budget), each
priced at its least tree distance through its own practices (the model's figure). The
stage is then a set partitioning of the free units over these groups: CP-SAT solves it
(one worker, a deterministic limit, started from the plan found), which gives the least
compactness where it finishes, and a better plan where the stage's search left one.
Prices per unit (a Lagrangian relaxation of "each unit in exactly one group", improved by
subgradient steps aimed at the plan found) bound every partition from below where it does
not.

Elsewhere (room left by the earlier stages, a split building, too many groups to
enumerate) the bound comes from :func:`footprint.partition._compact_bound.compactness_bound`
and the plan is left as found. Either way
:func:`footprint.partition.solve.run_stages` reports a gap for every CCG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model
from scipy.sparse import csr_matrix

from footprint.partition._compact_bound import compactness_bound
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance, least_tree, members_of, model_compactness
from footprint.partition.warmstart import units_of

if TYPE_CHECKING:
    from footprint.partition.stages import StageResult

__all__ = ["COLUMN_BUDGET", "COVER_LIMIT_S", "least_compactness"]

#: Connected groups enumerated per CCG, at most (else the bound of ``_compact_bound``).
COLUMN_BUDGET = 10_000
#: Deterministic seconds for the set partitioning over a CCG's connected groups (one worker).
COVER_LIMIT_S = 0.2
#: Subgradient steps on the prices, at most; steps without a better bound before halving.
STEPS = 120
STALL = 20


def least_compactness(
    inst: Instance,
    done: Mapping[str, StageResult],
    labels: Sequence[int],
    *,
    columns: int = COLUMN_BUDGET,
    limit_s: float = COVER_LIMIT_S,
    seed: int = 0,
) -> tuple[list[int] | None, float]:
    """Return a grouping of less compactness than ``labels`` (or ``None``) and a bound no plan beats.

    Parameters
    ----------
    inst
        The CCG.
    done
        The stages before compactness, their values held.
    labels
        A grouping that meets them (the search starts from it; the prices aim at it).
    columns
        Connected groups enumerated at most; beyond it, the bound of
        :func:`~footprint.partition._compact_bound.compactness_bound` and no new grouping.
    limit_s, seed
        The set partitioning's deterministic time limit and CP-SAT's random seed.

    Returns
    -------
    tuple
        A grouping meeting ``done`` whose model compactness is less than that of ``labels``
        (groups of the CCG's free units only: the caller checks its own hard rules), else
        ``None``; and a bound on the model's compactness of any plan meeting ``done``, no
        more than the better grouping's.
    """
    start = model_compactness(inst, labels)
    found = _columns(inst, done, columns)
    if found is None:
        return None, compactness_bound(inst, done, labels, start)
    # The groups no plan changes cost what they cost in every plan.
    fixed = sum(least_tree(inst, group) for group in inst.fixed_groups() if len(group) > 1)
    chosen, bound = found.least_cover(labels, limit_s=limit_s, seed=seed)
    better = found.grouping(chosen, labels) if chosen is not None else None
    if better is not None and model_compactness(inst, better) >= start:
        better = None
    value = start if better is None else model_compactness(inst, better)
    return better, min(fixed + bound, value)


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

    def least_cover(
        self, labels: Sequence[int], *, limit_s: float, seed: int
    ) -> tuple[list[int] | None, float]:
        """Return the groups of the least cover CP-SAT finds from ``labels`` (or ``None``), and a bound.

        The prices' reduced costs leave out every group that no cover better than
        ``labels`` can hold (its reduced cost above the gap between ``labels`` and the
        prices' bound), so CP-SAT weighs the few that can. Each unit in exactly one group,
        groups priced at their cost rounded down (so the bound holds for the true costs).
        The bound is the better of the prices' and CP-SAT's (capped by ``labels``' cost,
        as the groups left out cost more).
        """
        start = self._start(labels)
        least = start[0] if start else math.inf
        prices, bound = self._prices(least if start else float(self.cost.sum()))
        reduced = self.cost - self.held_by @ prices
        keep = np.flatnonzero(reduced <= least - bound + 1e-6) if start else np.arange(len(self.masks))
        keep = np.union1d(keep, start[1]) if start else keep
        model = cp_model.CpModel()
        take = {int(c): model.new_bool_var(f"group[{c}]") for c in keep}
        cover = self.cover.tocsr()
        for k in range(len(self.free)):
            model.add_exactly_one(
                take[c] for c in cover.indices[cover.indptr[k] : cover.indptr[k + 1]].tolist() if c in take
            )
        model.minimize(sum(math.floor(self.cost[c]) * x for c, x in take.items()))
        if start is not None:
            chosen = set(start[1])
            for c, x in take.items():
                model.add_hint(x, c in chosen)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.num_workers, params.random_seed, params.max_deterministic_time = 1, seed, limit_s
        # A set partitioning is all linear: the LP's cuts pay, presolve's probing does not.
        params.cp_model_presolve, params.linearization_level = False, 2
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, bound
        found = [c for c, x in take.items() if solver.boolean_value(x)]
        return found, max(bound, min(least, float(solver.best_objective_bound)))

    def grouping(self, chosen: Sequence[int], labels: Sequence[int]) -> list[int]:
        """Return ``labels`` with the free units grouped as the groups ``chosen`` say."""
        out = list(labels)
        base = max(labels, default=0) + 1
        for k, c in enumerate(chosen):
            for bit in self.bits[c]:
                for i in self.practices_of[bit]:
                    out[i] = base + k
        return out

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
