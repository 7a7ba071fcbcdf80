"""A bound on the buildings split: where no plan keeps every building whole, at least one is split.

Where the stages before it leave every group of free practices in band, a plan that splits
no building is a partition of the free units (buildings and practices outside them) into
connected groups in band. Whether one exists is the set partitioning of
:mod:`footprint.partition._compactness` with every group costing nothing and each unit
free to be left out at a cost of one: its linear relaxation, solved by the same column
generation, is above zero exactly where every fractional cover leaves some unit out, and
then no plan keeps every building whole. The Lagrangian bound its duals certify holds
whatever the solver's tolerances (see :func:`~footprint.partition._compactness._relaxation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from footprint.partition._compactness import (
    PRICING_NODES,
    _bits,
    _Groups,
    _OverBudgetError,
    _pairs_regrouped,
    _relaxation,
    _room_left,
)
from footprint.partition._instance import members_of

if TYPE_CHECKING:
    from footprint.partition._instance import Instance
    from footprint.partition.stages import StageResult

__all__ = ["split_bound"]

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


def split_bound(inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int]) -> float:
    """Return 1 where no plan meeting ``done`` keeps every building whole, else 0.

    The relaxation starts from the groups of ``labels`` that keep their buildings whole and
    every regrouping of two neighbouring ones.

    0 also where the stages leave groups out of band (whole buildings could then stand in
    groups out of band), where buildings are kept whole by the rules anyway, or where
    pricing overruns its budget. The relaxation stops as soon as it covers every unit.
    """
    if inst.rules.keep_sites or _room_left(inst, done):
        return 0.0
    groups = _Feasibility(inst)
    if not groups.m:
        return 0.0
    try:
        own = sorted(groups.whole_groups(labels))
        solved = _relaxation(groups, own, _pairs_regrouped(groups, own), uncovered=1.0, above=_LEFT_OUT)
    except _OverBudgetError:
        return 0.0
    return 1.0 if solved is not None and solved.bound > _LEFT_OUT else 0.0
