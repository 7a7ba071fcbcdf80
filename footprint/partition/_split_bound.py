"""The buildings split: a plan that splits none it need not, else a bound one above those it must.

Every plan splits a building whose practices total more than the ceiling (27D's seven
practices of 61,909 in one building): its practices count as units of their own here.
Where the stages before it leave every group of free practices in band, a plan that splits
no other building is a partition of the free units (the other buildings, and practices
outside them) into connected groups in band (:func:`whole_cover`):

1. every such group is enumerated, each once (:data:`WHOLE_GROUPS` weighed per CCG at most).
   A unit in none settles it: every plan splits one more building (00P: two small
   practices whose one other neighbour is too small to reach the floor with them);
2. else CP-SAT looks for an exact cover by them, first of the units the plan's groups that
   split a building hold (the plan's other groups kept), then of a region grown by the
   plan's groups next to it, a ring at a time, up to every unit or a region no group joins
   to the rest. A cover found is a plan that splits only the buildings it must (10Q of
   2025: none, where the plan split 3); where there is none, every plan splits one more.

Where the enumeration overruns its budget, the set partitioning's linear relaxation, every
group costing nothing and each unit free to be left out at a cost of one, is solved by the
column generation of :mod:`footprint.partition._compactness` instead: above zero exactly
where every fractional cover leaves some unit out, and then no plan keeps every building
whole. The Lagrangian bound its duals certify holds whatever the solver's tolerances (see
:func:`~footprint.partition._compactness._relaxation`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property, reduce
from operator import or_
from typing import TYPE_CHECKING

import numpy as np

from footprint.partition._compactness import (
    PRICING_NODES,
    _bits,
    _grouping,
    _Groups,
    _least_cover,
    _OverBudgetError,
    _pairs_regrouped,
    _relaxation,
    _room_left,
)
from footprint.partition._connected_groups import Budget, OverBudgetError, every_group
from footprint.partition._instance import members_of

if TYPE_CHECKING:
    from footprint.partition._instance import Instance
    from footprint.partition.stages import StageResult

__all__ = ["WHOLE_GROUPS", "WHOLE_LIMIT_S", "whole_cover"]

#: Connected groups of whole buildings the enumeration may weigh per CCG, at most (beyond,
#: the relaxation's bound).
WHOLE_GROUPS = 100_000
#: Deterministic seconds for each of CP-SAT's searches for a cover (one worker).
WHOLE_LIMIT_S = 2.5

logger = logging.getLogger(__name__)

#: Groups weighed by pricing per CCG, at most: half the compactness stage's, as the search this
#: bound may spare (the stage's own) costs less than that stage's; beyond, no bound.
FEASIBILITY_NODES = PRICING_NODES // 2
#: The relaxation's bound above which some unit is certainly left out (plans leave out whole units).
_LEFT_OUT = 1e-6


class _Feasibility(_Groups):
    """The free units, every group in band costing nothing (only whether a partition exists counts)."""

    def __init__(self, inst: Instance) -> None:
        super().__init__(inst, sites=True)
        self.left = FEASIBILITY_NODES

    @cached_property
    def weight(self) -> np.ndarray:
        """Per root practice, nothing for every unit."""
        return np.zeros((len(self.practices), self.m))

    def costs(self, masks: Sequence[int]) -> np.ndarray:
        """Return nothing for every group."""
        return np.zeros(len(masks))

    def whole_groups(self, labels: Sequence[int]) -> set[int]:
        """Return the groups of ``labels`` in band that split no building (bit masks of units)."""
        band = self.inst.rules.band
        found = set()
        for members in members_of(labels).values():
            mask = self.mask_of(members)
            units = _bits(mask)
            held = sorted(i for k in units for i in self.practices_of[k])
            if held == sorted(members) and band.low <= sum(self.sizes[k] for k in units) <= band.high:
                found.add(mask)
        return found


def whole_cover(
    inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int], *, seed: int = 0
) -> tuple[list[int] | None, float]:
    """Return a plan splitting only the buildings every plan splits (or ``None``), and a bound.

    Every plan splits a building whose practices total more than the ceiling; the bound is
    one more where no plan meeting ``done`` keeps every other building whole. Nothing is
    searched (``None``, 0) where the stages leave groups out of band (whole buildings could
    then stand in groups out of band) or the rules keep buildings whole anyway. The plan
    found keeps the groups of ``labels`` that split no building far from those that do.

    Parameters
    ----------
    inst
        The CCG.
    done
        The stages solved before (their values hold for the plan returned).
    labels
        The plan found so far, a label per practice.
    seed
        CP-SAT's random seed.

    Returns
    -------
    tuple
        The plan (labels) or ``None``, and the bound.
    """
    if inst.rules.keep_sites or _room_left(inst, done):
        return None, 0.0
    # A building whose practices total more than the ceiling is split in every plan: its
    # practices are units of their own, and the rest are weighed as above.
    over = inst.oversize_sites()
    forced = float(len(over))
    groups = _Feasibility(replace(inst, sites=[site for site in inst.sites if site not in over]))
    if not groups.m:
        return None, forced
    try:
        listed = _in_band(groups)
    except OverBudgetError:
        logger.debug("%s: the groups of whole buildings overran their budget of %d", inst.ccg, WHOLE_GROUPS)
        return None, forced + _relaxed_bound(groups, labels)
    every = (1 << groups.m) - 1
    if reduce(or_, listed, 0) != every:
        return None, forced + 1  # a unit in no group in band
    groups.cost = dict.fromkeys(listed, 0.0)
    own = sorted(groups.whole_groups(labels) & groups.cost.keys())
    region = every & ~reduce(or_, own, 0)
    while True:
        inside = [mask for mask in listed if not mask & ~region]
        kept = inside + [mask for mask in own if not mask & region]
        cover, least = _least_cover(groups, kept, own, limit_s=WHOLE_LIMIT_S, seed=seed, linearization=1)
        if cover is not None:
            return _grouping(groups.practices_of, cover, labels), forced
        if least < math.inf:
            return None, forced  # the search stopped at its limit
        ring = reduce(or_, (groups.near[k] for k in _bits(region)), 0) & ~region
        if not ring:
            # No group joins the region to the rest: every cover holds one of it.
            return None, forced + 1
        region |= reduce(or_, (mask for mask in own if mask & ring), 0)


def _in_band(groups: _Groups, most: int | None = None) -> list[int]:
    """Return every connected group of the free units in band, each once (from its lowest unit).

    ``most``: groups weighed at most (default :data:`WHOLE_GROUPS`).
    """
    band, budget = groups.inst.rules.band, Budget(WHOLE_GROUPS if most is None else most)
    found = [
        mask
        for mask, total in every_group(groups.near, groups.sizes, budget, most=band.high)
        if total >= band.low
    ]
    return found


def _relaxed_bound(groups: _Feasibility, labels: Sequence[int]) -> float:
    """Return 1 where the relaxation leaves some unit out of every fractional cover, else 0.

    The relaxation starts from the groups of ``labels`` that keep their buildings whole and
    every regrouping of two neighbouring ones, and stops as soon as it covers every unit.
    0 also where pricing overruns its budget.
    """
    try:
        own = sorted(groups.whole_groups(labels))
        solved = _relaxation(groups, own, _pairs_regrouped(groups, own), uncovered=1.0, above=_LEFT_OUT)
    except _OverBudgetError:
        return 0.0
    return 1.0 if solved is not None and solved.bound > _LEFT_OUT else 0.0
