"""Stage 1 settled part by part, as exact covers, where the warm start misses its bound.

Stage 1 asks for the fewest groups out of band and not exempt. Where the warm start
misses the bound the rules and the pieces give, CP-SAT's search of the whole model may
take minutes to prove that no plan does better, or to find the plan that does: in Devon
(15N) with 2025 list sizes varied at random, one group 299 patients below the floor was
neither bettered nor proven in 300 s. Yet the question is often small: can a connected
part of the free practices be cut into groups none of which breaks the band rule?

Each such part's connected groups of units (practices; buildings where the rules keep
them whole) that break no rule (in band, or exempt: rural from the rural floor) are
enumerated, within a budget
(:func:`footprint.partition._connected_groups.connected_groups`), and CP-SAT looks for an
exact cover of the part's units by them, keeping the most buildings whole. Where none
exists, every plan holds a group that breaks the rule in that part: in the Devon case a
practice whose one neighbour it cannot reach the floor with, and whose neighbour's other
neighbours are too large to join them, lies in no such group at all. Where one exists, it
is the part's grouping. A part whose groups overrun the budget, or whose cover is not
settled within the time, is left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from footprint.partition._compactness import _bits
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance
from footprint.partition.warmstart import units_of

__all__ = ["COVER_GROUPS", "Covers", "band_covers"]

#: Connected groups the parts of one CCG may weigh together, at most.
COVER_GROUPS = 200_000
#: CP-SAT's deterministic time for one part's cover, at most (about seconds).
COVER_LIMIT = 5.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Covers:
    """What the exact covers settled: the parts where every plan breaks the rule, and a better plan."""

    #: Parts (practice indices) where every plan has a group out of band and not exempt.
    hopeless: list[list[int]]
    #: The plan given, with each part a cover was found for grouped by it (``None``: none found).
    labels: list[int] | None


def band_covers(
    inst: Instance, labels: Sequence[int], parts: Sequence[Sequence[int]], *, seed: int = 0
) -> Covers:
    """Return which ``parts`` of free practices no plan cuts into groups that break no rule, and a plan.

    Parameters
    ----------
    inst
        The CCG.
    labels
        The plan found so far (a label per practice): the groups of the parts no cover
        was found for are kept.
    parts
        Connected parts of the free practices, each reached by no group from outside.
    seed
        CP-SAT's random seed.

    Returns
    -------
    Covers
        The parts proven to hold a group that breaks the rule in every plan, and
        ``labels`` regrouped by the covers found (``None`` where none was).
    """
    unit, _ = units_of(inst, sites=inst.rules.keep_sites)
    budget = Budget(COVER_GROUPS)
    hopeless, covered = [], list(labels)
    found = False
    base = max(labels, default=0) + 1
    for part in parts:
        try:
            cover = _cover(inst, part, unit, budget, seed=seed)
        except OverBudgetError:
            logger.debug("%s: the band cover overran its budget of %d groups", inst.ccg, COVER_GROUPS)
            break
        if cover is None:
            continue
        if not cover:
            hopeless.append(list(part))
            continue
        found = True
        for group in cover:
            for i in group:
                covered[i] = base
            base += 1
    logger.debug(
        "%s: band covers of %d part(s): %d proven to break the rule, a cover found: %s (%d groups weighed)",
        inst.ccg,
        len(parts),
        len(hopeless),
        found,
        COVER_GROUPS - budget.left,
    )
    return Covers(hopeless, covered if found else None)


def _cover(
    inst: Instance, part: Sequence[int], unit: Sequence[int], budget: Budget, *, seed: int
) -> list[list[int]] | None:
    """Return a part's groups that break no rule and cover it, ``[]`` where none do, ``None`` if unknown.

    First each unit is searched for one group that holds it and breaks no rule (a few
    groups each, depth first): a unit in none settles the part at once, before the
    enumeration of every such group, which may overrun the budget.
    """
    units = sorted({unit[i] for i in part})
    bit = {u: k for k, u in enumerate(units)}
    members: list[list[int]] = [[] for _ in units]
    for i in part:
        members[bit[unit[i]]].append(i)
    sizes = [sum(inst.sizes[i] for i in group) for group in members]
    near = [0] * len(units)
    for i, j in inst.edges:
        a, b = bit.get(unit[i]), bit.get(unit[j])
        if a is not None and b is not None and a != b:
            near[a] |= 1 << b
            near[b] |= 1 << a
    band, rural = inst.rules.band, any(inst.rural[i] for i in part)

    def fine(mask: int, total: int) -> bool:
        return band.low <= total or (rural and _exempt(inst, members, mask))

    every = (1 << len(units)) - 1
    for k in range(len(units)):
        if not any(fine(*group) for group in connected_groups(k, every, near, sizes, budget, most=band.high)):
            return []  # a unit lies in no group that breaks no rule
    good, free = [], every
    for first in range(len(units)):
        good += [
            mask
            for mask, total in connected_groups(first, free, near, sizes, budget, most=band.high)
            if fine(mask, total)
        ]
        free &= ~(1 << first)
    chosen = _exact_cover(inst, members, good, seed=seed)
    if chosen is None:
        return None
    return [[i for k in _bits(mask) for i in members[k]] for mask in chosen]


def _exempt(inst: Instance, members: Sequence[Sequence[int]], mask: int) -> bool:
    """Return whether a group of units below the band is exempt (rural from the floor)."""
    group = [i for k in _bits(mask) for i in members[k]]
    return inst.status(group).startswith("exempt_")


def _exact_cover(
    inst: Instance, members: Sequence[Sequence[int]], good: Sequence[int], *, seed: int
) -> list[int] | None:
    """Return the groups of an exact cover of the units by ``good``, most buildings whole.

    ``[]`` where CP-SAT proves there is none, ``None`` where it settles neither within
    :data:`COVER_LIMIT`.
    """
    model = cp_model.CpModel()
    take = [model.new_bool_var("") for _ in good]
    holding: list[list[cp_model.IntVar]] = [[] for _ in members]
    for mask, x in zip(good, take, strict=True):
        for k in _bits(mask):
            holding[k].append(x)
    for xs in holding:
        model.add_exactly_one(xs)
    # Buildings whose practices are units of their own: each kept whole by a group holding it all.
    where = {i: k for k, group in enumerate(members) for i in group}
    buildings = [
        sum(1 << where[i] for i in site)
        for site in inst.sites
        if len(site) > 1 and all(i in where for i in site) and len({where[i] for i in site}) > 1
    ]
    if buildings:
        whole = [sum(mask & b == b for b in buildings) for mask in good]
        model.maximize(cp_model.LinearExpr.weighted_sum(take, whole))
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers, params.random_seed, params.max_deterministic_time = 1, seed, COVER_LIMIT
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return []
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [mask for mask, x in zip(good, take, strict=True) if solver.boolean_value(x)]
