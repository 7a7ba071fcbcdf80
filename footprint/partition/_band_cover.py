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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from footprint.config import BREAKS
from footprint.partition._compactness import _bits
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance, members_of
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
        The plan found so far (a label per practice): only the parts where it has a group
        that breaks the rule are weighed, and the groups of those no cover was found for
        are kept.
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
    breaking = {
        i for members in members_of(labels).values() if inst.status(members) in BREAKS for i in members
    }
    hopeless, covered = [], list(labels)
    found = False
    base = max(labels, default=0) + 1
    for part in parts:
        start = sorted(breaking.intersection(part))
        if not start:
            continue
        try:
            cover = _Part(inst, part, unit, budget).cover(start, seed=seed)
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


class _Part:
    """A part's units (bits), their sizes and neighbours, and its groups that break no rule found so far."""

    def __init__(self, inst: Instance, part: Sequence[int], unit: Sequence[int], budget: Budget) -> None:
        units = sorted({unit[i] for i in part})
        self.bit = {i: k for k, u in enumerate(units) for i in part if unit[i] == u}
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
        #: The groups that break no rule holding a unit of ``roots``, each once.
        self.good: list[int] = []
        self.roots = 0

    def fine(self, mask: int, total: int) -> bool:
        """Return whether a group (of at most the band's top) breaks no rule."""
        if total >= self.inst.rules.band.low:
            return True
        group = [i for k in _bits(mask) for i in self.members[k]]
        return self.rural and self.inst.status(group).startswith("exempt_")

    def groups(self, first: int, free: int) -> Iterator[int]:
        """Yield the groups of the ``free`` units that hold ``first`` and break no rule."""
        for mask, total in connected_groups(
            first, free, self.near, self.sizes, self.budget, most=self.inst.rules.band.high
        ):
            if self.fine(mask, total):
                yield mask

    def cover(self, start: Sequence[int], *, seed: int) -> list[list[int]] | None:
        """Return groups that break no rule and cover the part, ``[]`` where none do, ``None`` if unknown.

        First each unit is searched for one group that holds it (a few groups each, depth
        first): a unit in none settles the part at once. Then the groups that hold a unit
        of a region (``start``, then it and its neighbours, ...) are enumerated, and
        CP-SAT asked for a cover of the region by them that takes no unit twice: none
        settles the part (the groups of a plan that hold a unit of the region are one),
        else the region grows until it is the part, whose cover is the answer.
        """
        if any(next(self.groups(k, self.every), None) is None for k in range(len(self.sizes))):
            return []  # a unit lies in no group that breaks no rule
        region = 0
        for i in start:
            region |= 1 << self.bit[i]
        while True:
            new = region & ~self.roots
            for first in _bits(new):
                self.good += self.groups(first, self.every & ~self.roots)
                self.roots |= 1 << first
            chosen = _exact_cover(self.inst, self.members, self.good, region, seed=seed)
            if region == self.every or not chosen:
                break
            grown = region
            for k in _bits(region):
                grown |= self.near[k]
            region = grown
        if chosen is None:
            return None
        return [[i for k in _bits(mask) for i in self.members[k]] for mask in chosen]


def _exact_cover(
    inst: Instance, members: Sequence[Sequence[int]], good: Sequence[int], region: int, *, seed: int
) -> list[int] | None:
    """Return groups of ``good`` that take each unit of ``region`` once and no other twice.

    ``[]`` where CP-SAT proves there are none, ``None`` where it settles neither within
    :data:`COVER_LIMIT`. Where the region is every unit, the groups keep the most
    buildings whole.
    """
    model = cp_model.CpModel()
    take = [model.new_bool_var("") for _ in good]
    holding: list[list[cp_model.IntVar]] = [[] for _ in members]
    for mask, x in zip(good, take, strict=True):
        for k in _bits(mask):
            holding[k].append(x)
    for k, xs in enumerate(holding):
        if region >> k & 1:
            model.add_exactly_one(xs)
        elif len(xs) > 1:
            model.add_at_most_one(xs)
    # Buildings whose practices are units of their own: each kept whole by a group holding it all.
    where = {i: k for k, group in enumerate(members) for i in group}
    buildings = [
        sum(1 << where[i] for i in site)
        for site in inst.sites
        if len(site) > 1 and all(i in where for i in site) and len({where[i] for i in site}) > 1
    ]
    if buildings and region == (1 << len(members)) - 1:
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
