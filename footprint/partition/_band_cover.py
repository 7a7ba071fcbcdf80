"""A bound on stage 1 from the parts of a CCG that no groups breaking no rule can cover.

Stage 1 asks for the fewest groups out of band and not exempt. Where the warm start
misses the bound the rules and the pieces give, CP-SAT's search of the whole model may
take minutes to prove that no plan does better: in Devon (15N) with list sizes varied at
random, one group out of band was neither bettered nor proven in 300 s. Yet the question
is often small: can a connected part of the free practices be cut into groups none of
which breaks the band rule (each connected, and in band or exempt: rural from the rural
floor)? Where not, every plan has such a group in that part.

Units are practices (buildings where the rules keep them whole). For each part where the
plan found has a group that breaks the rule:

1. each unit is searched, depth first, for one group that holds it and breaks no rule
   (:func:`footprint.partition._connected_groups.connected_groups`): a unit in none settles
   the part (Devon on 2025 sizes: a practice whose one neighbour it cannot reach the floor
   with, and whose neighbour's other neighbours are too large to join them);
2. else, from the plan's groups that break the rule, a region grows a ring of neighbours at
   a time. Every group that holds a unit of the region and breaks no rule is enumerated
   (each once, :data:`COVER_GROUPS` per CCG at most), and a linear programme asks for
   groups of them, fractions allowed, that take each unit of the region once and no unit
   more than once (any plan whose groups all break no rule has them, whole). Where the
   least shortfall on the region's units is above zero, the part is settled (Devon on 2022
   sizes: five practices around the group above the band settle it, among 208,419 groups in
   band). The shortfall is certified from the duals as a Lagrangian bound, whatever the
   solver's tolerances.

Where the region is the whole part and the programme is met, or the budget is spent,
nothing is proven. Finding a cover where one exists is left to the model's search: an
exact cover by the groups in band is a hard set partitioning (HiGHS did not find one of
Devon's 65,849 groups in 300 s, nor CP-SAT in 5 s) where the warm start's tree cuts find
plans with every group in band at once.

The deviation stage (patients outside the band) is bounded by the same covers with each
group costing its deviation (:func:`least_deviation`): where a part's groups in the plan
deviate by ``D``, a plan that deviates less holds only groups within ``D`` of the band,
and the least cost of a fractional cover of the region by those (a unit left short
costing ``D``) bounds it (Devon on varied sizes: the group out of band stage 1 proves is
the least deviation too).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
from ortools.sat.python import cp_model
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, eye, hstack

from footprint.config import BREAKS, GroupStatus
from footprint.partition._compactness import _bits, _grouping
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups, every_group
from footprint.partition._instance import Instance, members_of
from footprint.partition.warmstart import units_of

__all__ = ["COVER_GROUPS", "DEVIATION_LIMIT_S", "fewer_outside", "least_deviation", "uncoverable"]

#: Connected groups the parts of one CCG may weigh together, at most.
COVER_GROUPS = 50_000
#: Deterministic seconds for CP-SAT's search of a plan that deviates less (one worker; D9Y0V
#: of 2025 proves its least in 1.7).
DEVIATION_LIMIT_S = 2.5
#: The least shortfall above which a region is certainly not covered (covers fall short by whole units).
_SHORT = 1e-6

logger = logging.getLogger(__name__)


def uncoverable(inst: Instance, labels: Sequence[int], parts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Return the ``parts`` of free practices that no groups breaking no rule can cover.

    Parameters
    ----------
    inst
        The CCG.
    labels
        The plan found so far (a label per practice): only the parts where it has a group
        that breaks the rule are weighed, from those groups.
    parts
        Connected parts of the free practices, each reached by no group from outside.

    Returns
    -------
    list
        The parts where every plan has a group out of band and not exempt.
    """
    unit, _ = units_of(inst, sites=inst.rules.keep_sites)
    budget = Budget(COVER_GROUPS)
    breaking = {
        i for members in members_of(labels).values() if inst.status(members) in BREAKS for i in members
    }
    found = []
    for part in parts:
        start = sorted(breaking.intersection(part))
        if not start:
            continue
        try:
            if not _Part(inst, part, unit, budget).coverable(start):
                found.append(list(part))
        except OverBudgetError:
            logger.debug("%s: the band covers overran their budget of %d groups", inst.ccg, COVER_GROUPS)
            break
    logger.debug(
        "%s: %d of %d part(s) proven to hold a group that breaks the rule (%d groups weighed)",
        inst.ccg,
        len(found),
        len(parts),
        COVER_GROUPS - budget.left,
    )
    return found


def least_deviation(inst: Instance, labels: Sequence[int], parts: Sequence[Sequence[int]]) -> float:
    """Return a bound on the patients the groups of ``parts`` lie outside the band, in any plan.

    Parameters
    ----------
    inst
        The CCG.
    labels
        The plan found so far (a label per practice): each part's bound is no more than
        its groups' deviation, and is sought from its groups out of band.
    parts
        Connected parts of the free practices, each reached by no group from outside.

    Returns
    -------
    float
        A bound, summed over the parts.
    """
    unit, _ = units_of(inst, sites=inst.rules.keep_sites)
    budget = Budget(COVER_GROUPS)
    groups = list(members_of(labels).values())
    found = 0.0
    for part in parts:
        inside = set(part)
        out = [group for group in groups if group[0] in inside and inst.deviation(group) > 0]
        most = sum(inst.deviation(group) for group in out)
        if not most:
            continue
        try:
            found += _Part(inst, part, unit, budget).least_deviation(sorted(i for g in out for i in g), most)
        except OverBudgetError:
            logger.debug("%s: the deviation's covers overran their budget", inst.ccg)
            break
    return found


def fewer_outside(
    inst: Instance, labels: Sequence[int], free: Sequence[int], room: tuple[int, int], *, seed: int
) -> list[int] | None:
    """Return a plan whose groups lie fewer patients outside the band than those of ``labels``.

    ``None`` where CP-SAT finds none within :data:`DEVIATION_LIMIT_S`, or the groups overrun
    :data:`COVER_GROUPS`. The plan's groups of the ``free`` practices deviate by ``D``; a
    plan that deviates less holds only groups within ``D`` of the band. Every such group
    is enumerated and CP-SAT looks for the exact cover of least deviation, holding no more
    groups out of band and not exempt, and out of band, than ``room`` says (D9Y0V of 2025:
    4,963 in all, where the model's own search in its limit left 6,384).
    """
    inside = set(free)
    groups = [g for g in members_of(labels).values() if g[0] in inside]
    most = sum(inst.deviation(group) for group in groups)
    if not most:
        return None
    unit, _ = units_of(inst, sites=inst.rules.keep_sites)
    part = _Part(inst, free, unit, Budget(COVER_GROUPS))
    band = inst.rules.band
    found: list[tuple[int, int, GroupStatus]] = []  # each group: its mask, deviation and status
    try:
        for mask, total in every_group(part.near, part.sizes, part.budget, most=band.high + most - 1):
            if band.deviation(total) < most:
                status = inst.status(part.practices(mask)) if band.deviation(total) else "in_band"
                found.append((mask, int(band.deviation(total)), status))
    except OverBudgetError:
        return None
    model = cp_model.CpModel()
    take = [model.new_bool_var("") for _ in found]
    holding: list[list[cp_model.IntVar]] = [[] for _ in part.sizes]
    for (mask, _, _), x in zip(found, take, strict=True):
        for k in _bits(mask):
            holding[k].append(x)
    for xs in holding:
        model.add_exactly_one(xs)
    model.add(sum(x for (_, _, status), x in zip(found, take, strict=True) if status in BREAKS) <= room[0])
    model.add(sum(x for (_, _, status), x in zip(found, take, strict=True) if status != "in_band") <= room[1])
    model.add(cp_model.LinearExpr.weighted_sum(take, [d for _, d, _ in found]) <= most - 1)
    model.minimize(cp_model.LinearExpr.weighted_sum(take, [d for _, d, _ in found]))
    own = {part.mask_of(group) for group in groups}
    for (mask, _, _), x in zip(found, take, strict=True):
        model.add_hint(x, mask in own)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers, params.random_seed, params.max_deterministic_time = 1, seed, DEVIATION_LIMIT_S
    # A set partitioning: presolve's probing does not pay (as the buildings' covers).
    params.cp_model_presolve, params.linearization_level = False, 1
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    chosen = [mask for (mask, _, _), x in zip(found, take, strict=True) if solver.boolean_value(x)]
    return _grouping(part.members, chosen, labels)


class _Part:
    """A part's units (bits), their sizes and neighbours, and its groups that break no rule found so far."""

    def __init__(self, inst: Instance, part: Sequence[int], unit: Sequence[int], budget: Budget) -> None:
        units = sorted({unit[i] for i in part})
        index = {u: k for k, u in enumerate(units)}
        self.bit = {i: index[unit[i]] for i in part}
        self.members: list[list[int]] = [[] for _ in units]
        for i in part:
            self.members[self.bit[i]].append(i)
        self.sizes = [sum(inst.sizes[i] for i in group) for group in self.members]
        self.near = [0] * len(units)
        for i, j in inst.edges:
            a, b = self.bit.get(i), self.bit.get(j)
            if a is not None and b is not None and a != b:
                self.near[a] |= 1 << b
                self.near[b] |= 1 << a
        self.inst, self.budget, self.every = inst, budget, (1 << len(units)) - 1
        self.rural = any(inst.rural[i] for i in part)

    def fine(self, mask: int, total: int) -> bool:
        """Return whether a group breaks no rule: in band, or exempt."""
        band = self.inst.rules.band
        if band.low <= total <= band.high:
            return True
        if total < band.low and not self.rural:
            return False  # below the band, exempt only where rural
        group = [i for k in _bits(mask) for i in self.members[k]]
        return self.inst.status(group) not in BREAKS

    def groups(self, first: int, free: int) -> Iterator[int]:
        """Yield the groups of the ``free`` units that hold ``first`` and break no rule.

        A unit over the band's top breaks no rule alone only (a practice over it standing
        alone, which repair leaves free where it shares an existing group): every group
        holding it and another is above the band and not exempt.
        """
        high = self.inst.rules.band.high
        if self.sizes[first] > high:
            if self.fine(1 << first, self.sizes[first]):
                yield 1 << first
            return
        for mask, total in connected_groups(first, free, self.near, self.sizes, self.budget, most=high):
            if self.fine(mask, total):
                yield mask

    def coverable(self, start: Sequence[int]) -> bool:
        """Return ``False`` where no groups that break no rule cover the part (proven), else ``True``.

        ``start``: the practices the region grows from.
        """
        if any(next(self.groups(k, self.every), None) is None for k in range(len(self.sizes))):
            return False  # a unit lies in no group that breaks no rule
        region = roots = 0
        for i in start:
            region |= 1 << self.bit[i]
        held: list[int] = []  # the unit of each (group, unit) it holds, group by group
        count: list[int] = []  # the units of each group
        while True:
            for first in _bits(region & ~roots):
                for mask in self.groups(first, self.every & ~roots):
                    bits = _bits(mask)
                    held += bits
                    count.append(len(bits))
                roots |= 1 << first
            units = np.array([region >> k & 1 for k in range(len(self.sizes))], dtype=bool)
            if _shortfall(np.array(held), np.array(count), units) > _SHORT:
                return False
            if region == self.every:
                return True
            for k in _bits(region):
                region |= self.near[k]

    def practices(self, mask: int) -> list[int]:
        """Return the practices of the units of ``mask``."""
        return [i for k in _bits(mask) for i in self.members[k]]

    def mask_of(self, practices: Sequence[int]) -> int:
        """Return the mask of the units holding ``practices``."""
        mask = 0
        for i in practices:
            mask |= 1 << self.bit[i]
        return mask

    def least_deviation(self, start: Sequence[int], most: int) -> float:
        """Return a bound, no more than ``most``, on the patients the part's groups lie outside the band.

        ``most``: what the plan's groups of the part deviate; ``start``: the practices of
        those out of band, where the region grows from. A plan that deviates less has no
        group that deviates ``most`` or more, so only groups within ``most`` of the band are
        weighed: the least their cost (deviation) and shortfall (at ``most`` a unit) over
        covers of the region bounds every plan's, or it deviates ``most`` at least.
        """
        band = self.inst.rules.band
        region = roots = 0
        for i in start:
            region |= 1 << self.bit[i]
        held: list[int] = []
        count: list[int] = []
        cost: list[float] = []
        while True:
            for first in _bits(region & ~roots):
                found = connected_groups(
                    first, self.every & ~roots, self.near, self.sizes, self.budget, most=band.high + most - 1
                )
                for mask, total in found:
                    if band.deviation(total) < most:
                        bits = _bits(mask)
                        held += bits
                        count.append(len(bits))
                        cost.append(band.deviation(total))
                roots |= 1 << first
            units = np.array([region >> k & 1 for k in range(len(self.sizes))], dtype=bool)
            bound = _shortfall(
                np.array(held, dtype=int), np.array(count, dtype=int), units, np.array(cost), float(most)
            )
            # Plans deviate by whole patients: the bound's rounding error is no more than its own.
            bound = math.ceil(bound - _SHORT)
            if bound >= most or region == self.every:
                return min(bound, float(most))
            for k in _bits(region):
                region |= self.near[k]


def _shortfall(
    held: np.ndarray,
    count: np.ndarray,
    region: np.ndarray,
    cost: np.ndarray | None = None,
    short: float = 1.0,
) -> float:
    """Return a bound on what groups cost, and fall short of taking each unit of ``region`` once.

    The groups hold the units ``held`` (group by group, ``count`` each) and cost ``cost``
    (default nothing); ``region`` marks the units to take, each left short at ``short``.
    The least, over fractions of the groups taking no unit more than once, of their cost
    and the units of the region left short (a linear programme, HiGHS), certified from
    its duals: for any prices ``y`` of the region's units (at most ``short``) and ``z`` of
    the others (at most 0), it is at least ``sum(y) + sum(z)`` less what each group priced
    above its cost adds.
    """
    groups = np.repeat(np.arange(len(count)), count)
    cost = np.zeros(len(count)) if cost is None else cost
    holds = csr_matrix((np.ones(len(held)), (held, groups)), shape=(len(region), len(count)))
    outside = ~region & (np.bincount(held, minlength=len(region)) > 0)
    eq, ub = holds[region], holds[outside]
    r = int(region.sum())
    # Variables: each group's fraction, then each region unit's shortfall.
    solved = linprog(
        np.concatenate([cost, np.full(r, short)]),
        A_eq=hstack([eq, eye(r)]).tocsr(),
        b_eq=np.ones(r),
        A_ub=hstack([ub, csr_matrix((ub.shape[0], r))]).tocsr(),
        b_ub=np.ones(ub.shape[0]),
        bounds=(0, 1),
        method="highs-ds",  # dual simplex; HiGHS's presolve costs more than it saves here
        options={"presolve": False},
    )
    if solved.status != 0:
        return 0.0
    y = np.minimum(solved.eqlin.marginals, short)
    z = np.minimum(solved.ineqlin.marginals, 0.0)
    priced = eq.T @ y + ub.T @ z
    return float(y.sum() + z.sum() - np.maximum(priced - cost, 0.0).sum())
