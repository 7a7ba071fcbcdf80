"""The one registry of objective stages: name -> model expression, evaluator, lower bound.

Each :class:`Stage` says, in one place, how the stage is written in the CP-SAT model
(:attr:`Stage.expression`, reading the parts :func:`footprint.partition.model.build_model`
returned), how the same figure is computed in plain Python for any grouping
(:attr:`Stage.evaluate`, on a :class:`Grouping`) and a bound no plan can beat
(:attr:`Stage.lower_bound`, from the fixed groups and the stages already solved). A new
use of the model (repair, alternatives, clinical-director clusters) adds a stage here.

The stages (:data:`footprint.config.STAGES`):

``out_of_band``
    groups out of band and not exempt (they break the band rule);
``out_of_band_all``
    groups out of band, exempt ones too;
``deviation``
    patients outside the band, summed over groups (exempt groups included);
``split_sites``
    buildings whose practices are in more than one group;
``moves``
    practices not left in the group matched to their current PCN (transfer distance);
``compactness``
    patients times distance (100 m) along each group's tree from its centre (the model's
    tree distance; the reported compactness is km to the list-weighted centre).

The band stages' bounds include what the pieces a CCG falls into at its cut practices
force (:mod:`footprint.partition._pieces`); where the plan found lies above it, stage 1's
bound also counts the parts no groups breaking no rule can cover, and the deviation's
what the groups near the band can cover at least (:mod:`footprint.partition._band_cover`).
Three stages have a search of their own (:attr:`Stage.search`) over the CCG's connected
groups, which :func:`footprint.partition.solve.run_stages` runs on the plan found before
CP-SAT's: the deviation looks for the exact cover of least deviation by the groups near the
band (:mod:`footprint.partition._band_cover`); the buildings split look for a plan that
splits only the buildings over the ceiling, or prove one more is split
(:mod:`footprint.partition._split_bound`); compactness is solved as a set partitioning by
column generation from the polished plan, which gives its bound
(:mod:`footprint.partition._compactness`). A stage's search runs before
CP-SAT's search of the model unless :attr:`Stage.search_first` is false: repair's moves are
solved as a set partitioning after it, where it leaves them unproven
(:mod:`footprint.partition._moves_cover`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from footprint.config import BREAKS, GroupStatus
from footprint.partition._band_cover import fewer_outside, least_deviation, uncoverable
from footprint.partition._compactness import least_compactness
from footprint.partition._instance import (
    Instance,
    centres,
    forest,
    match_current,
    members_of,
    model_compactness,
)
from footprint.partition._pieces import band_bounds
from footprint.partition._split_bound import whole_cover

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

    from footprint.partition.model import PartitionModel

__all__ = ["STAGE_REGISTRY", "Grouping", "Stage", "StageResult", "lower_bound"]


@dataclass(frozen=True)
class StageResult:
    """The outcome of one objective stage in one CCG."""

    name: str
    value: float
    bound: float
    status: str
    seconds: float

    @property
    def proven(self) -> bool:
        """Whether the stage's value is proven optimal (bound met)."""
        return self.status == "OPTIMAL"

    @property
    def gap(self) -> float:
        """How far the value may lie above the optimum, as a share of the value (0 when proven)."""
        if self.proven or self.value <= 0:
            return 0.0
        return max(0.0, (self.value - self.bound) / self.value)


class Grouping:
    """A grouping of one instance's practices (a label per practice), evaluated lazily."""

    def __init__(self, inst: Instance, labels: Sequence[int]) -> None:
        self.inst = inst
        self.labels = list(labels)

    @cached_property
    def groups(self) -> list[list[int]]:
        """Return each group's practice indices."""
        return list(members_of(self.labels).values())

    @cached_property
    def statuses(self) -> list[GroupStatus]:
        """Return each group's status under the band rule (in the order of :attr:`groups`)."""
        return [self.inst.status(members) for members in self.groups]

    @cached_property
    def centres(self) -> list[int]:
        """Return each practice's group centre: the member nearest the others, list-weighted."""
        return centres(self.inst, self.labels)

    @cached_property
    def centred_forest(self) -> tuple[list[int], dict[int, int]]:
        """Return each practice's root (its group's centre) and parent in a shortest-path tree."""
        return forest(self.inst, self.labels, centre_roots=True)


#: A stage's lower bound from an instance and the results of the stages solved before it.
LowerBound = Callable[[Instance, Mapping[str, StageResult]], float | None]


class Search(Protocol):
    """A stage's own search from the plan found so far: a better plan (or ``None``) and a bound."""

    def __call__(
        self, inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int], *, seed: int
    ) -> tuple[list[int] | None, float]:
        """Return a plan better than ``labels`` meeting ``done`` (or ``None``), and a bound on every plan."""
        ...


@dataclass(frozen=True)
class Stage:
    """One objective stage: its model expression, plain-Python evaluator and lower bound."""

    name: str
    expression: Callable[[PartitionModel], cp_model.LinearExprT]
    evaluate: Callable[[Grouping], float]
    lower_bound: LowerBound
    #: A bound that costs a search of its own, from the plan found so far: weighed only where
    #: that plan lies above ``lower_bound``.
    stronger: Callable[[Instance, Mapping[str, StageResult], Sequence[int]], float] | None = None
    #: A search of the CCG's connected groups of its own, before (or instead of) CP-SAT's search
    #: of the model: a better plan where it finds one, and a bound.
    search: Search | None = None
    #: Whether :attr:`search` runs before CP-SAT's search of the model (else after it, where
    #: that leaves the stage unproven: from the plan it found).
    search_first: bool = True


def _fixed_statuses(inst: Instance) -> list[tuple[list[int], GroupStatus]]:
    return [(group, inst.status(group)) for group in inst.fixed_groups()]


def _bound_not_exempt(inst: Instance, done: Mapping[str, StageResult]) -> float:
    return _not_exempt_with(inst, done, _forced_parts(inst)[0])


def _forced_parts(inst: Instance) -> tuple[list[list[int]], list[list[int]]]:
    """Return the parts of the free practices whose totals force a group out of band, and the rest."""
    forced: list[list[int]] = []
    hopeful: list[list[int]] = []
    for part in _free_parts(inst):
        (hopeful if _can_be_in_band(inst, part) else forced).append(part)
    return forced, hopeful


def _not_exempt_with(
    inst: Instance, done: Mapping[str, StageResult], forced: Sequence[Sequence[int]]
) -> float:
    # The fixed groups (big practices alone, locked groups) out of band and not exempt, and
    # a group in every part of the free practices that is ``forced`` to hold one (no part
    # holds another's practices: fixed groups stand between them); or, where larger, what
    # the pieces cut off by one practice force (see _pieces).
    fixed = sum(status in BREAKS for _, status in _fixed_statuses(inst))
    return float(max(fixed + len(forced), _piece_bound(inst, done, 0, forced=forced)))


def _covered_not_exempt(inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int]) -> float:
    # As _bound_not_exempt, a part also forced where no groups that break no rule cover it
    # (see _band_cover).
    forced, hopeful = _forced_parts(inst)
    return _not_exempt_with(inst, done, forced + uncoverable(inst, labels, hopeful))


def _piece_bound(
    inst: Instance, done: Mapping[str, StageResult], stage: int, *, forced: Sequence[Sequence[int]] = ()
) -> int:
    """Return the bound the pieces give on band stage ``stage`` (0, 1, 2), the stages in ``done`` held."""
    bounds = band_bounds(inst, {name: result.value for name, result in done.items()}, forced=forced)
    return 0 if bounds is None else bounds[stage]


def _free_parts(inst: Instance) -> list[list[int]]:
    """Return the connected parts of the practices outside the fixed groups."""
    fixed = {i for group in inst.fixed_groups() for i in group}
    free = [i for i in range(inst.n) if i not in fixed]
    parent = {i: i for i in free}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in inst.edges:
        if i in parent and j in parent:
            parent[find(i)] = find(j)
    parts: dict[int, list[int]] = {}
    for i in free:
        parts.setdefault(find(i), []).append(i)
    return list(parts.values())


def _can_be_in_band(inst: Instance, part: Sequence[int]) -> bool:
    """Return whether a part's total could be cut into groups in band (or may be exempt).

    A total is some number ``k`` of groups in band exactly when ``k`` lies between the
    total over the band's top and the total over its bottom. A part holding a rural
    practice is given the benefit of the doubt (a rural group may be exempt).
    """
    if any(inst.rural[i] for i in part):
        return True
    band = inst.rules.band
    total = sum(inst.sizes[i] for i in part)
    return -(-total // band.high) <= total // band.low


def _bound_all(inst: Instance, done: Mapping[str, StageResult]) -> float:
    # Every fixed group out of band; and at least the proven fewest not exempt plus the
    # fixed exempt groups (every plan has both).
    fixed = _fixed_statuses(inst)
    out = sum(status != "in_band" for _, status in fixed)
    exempt = sum(status.startswith("exempt_") for _, status in fixed)
    first = done.get("out_of_band")
    return float(max(out, (first.bound if first is not None else 0) + exempt, _piece_bound(inst, done, 1)))


def _bound_deviation(inst: Instance, done: Mapping[str, StageResult]) -> float:
    fixed = sum(inst.deviation(group) for group in inst.fixed_groups())
    return float(max(fixed, _piece_bound(inst, done, 2)))


def _covered_deviation(inst: Instance, _done: Mapping[str, StageResult], labels: Sequence[int]) -> float:
    # The fixed groups' deviation, and what the groups of each free part deviate at least
    # (see _band_cover).
    fixed = sum(inst.deviation(group) for group in inst.fixed_groups())
    return float(fixed + least_deviation(inst, labels, _free_parts(inst)))


def _deviation_search(
    inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int], *, seed: int
) -> tuple[list[int] | None, float]:
    # A plan of the free practices that deviates less, with no more free groups out of band
    # than the stages before leave (see _band_cover); the bound is the stronger one's.
    statuses = [status for _, status in _fixed_statuses(inst)]
    first, both = done.get("out_of_band"), done.get("out_of_band_all")  # a rule's stages may omit one
    breaking = inst.n if first is None else round(first.value) - sum(status in BREAKS for status in statuses)
    out = inst.n if both is None else round(both.value) - sum(status != "in_band" for status in statuses)
    free = [i for part in _free_parts(inst) for i in part]
    return fewer_outside(inst, labels, free, (max(breaking, 0), max(out, 0)), seed=seed), 0.0


def _zero(_inst: Instance, _done: Mapping[str, StageResult]) -> float:
    return 0.0


def _no_bound(_inst: Instance, _done: Mapping[str, StageResult]) -> None:
    return None


def _split_sites(g: Grouping) -> float:
    return float(sum(len({g.labels[i] for i in site}) > 1 for site in _movable_sites(g.inst)))


def _movable_sites(inst: Instance) -> list[list[int]]:
    """Return the buildings whose movable practices (not big ones) number at least two."""
    sites = [[i for i in site if not inst.big[i]] for site in inst.sites]
    return [site for site in sites if len(site) > 1]


def _moves(g: Grouping) -> float:
    inst = g.inst
    if inst.current is None:
        return 0.0
    centre_of = g.centres
    matched = match_current(inst, centre_of)
    return float(sum(matched.get(c) != centre_of[i] for i, c in enumerate(inst.current) if c >= 0))


def _tree_distance(g: Grouping) -> float:
    # The model's compactness: the compactness stage lets each group's root move to its best.
    return model_compactness(g.inst, g.labels)


#: Every objective stage, by name (the keys are :data:`footprint.config.STAGES`).
STAGE_REGISTRY: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "out_of_band",
            lambda pm: pm.band.not_exempt_count,
            lambda g: float(sum(s in BREAKS for s in g.statuses)),
            _bound_not_exempt,
            _covered_not_exempt,
        ),
        Stage(
            "out_of_band_all",
            lambda pm: pm.band.out_of_band_count,
            lambda g: float(sum(s != "in_band" for s in g.statuses)),
            _bound_all,
        ),
        Stage(
            "deviation",
            lambda pm: pm.band.total_deviation,
            lambda g: float(sum(g.inst.deviation(m) for m in g.groups)),
            _bound_deviation,
            _covered_deviation,
            _deviation_search,
        ),
        Stage("split_sites", lambda pm: pm.sites.split_count, _split_sites, _zero, search=whole_cover),
        Stage("moves", lambda pm: _moved(pm), _moves, _zero),
        Stage(
            "compactness",
            lambda pm: pm.forest.distance,
            _tree_distance,
            _no_bound,
            search=least_compactness,
        ),
    )
}


def _moved(pm: PartitionModel) -> cp_model.LinearExprT:
    if pm.moves is None:
        msg = "the moves stage needs the model built with the moves stage (and the current PCNs)"
        raise ValueError(msg)
    return pm.moves.moved


def stage_values(
    inst: Instance,
    labels: Sequence[int],
    stages: Sequence[str] | None = None,
    *,
    registry: Mapping[str, Stage] = STAGE_REGISTRY,
) -> dict[str, float]:
    """Evaluate ``stages`` (default: every stage of ``registry``) of a grouping, as the model counts them."""
    grouping = Grouping(inst, labels)
    names = stages if stages is not None else list(registry)
    return {name: registry[name].evaluate(grouping) for name in names}


def lower_bound(name: str, inst: Instance, done: Mapping[str, StageResult]) -> float | None:
    """Return a bound on stage ``name`` no plan can beat, or ``None`` when none is known."""
    return STAGE_REGISTRY[name].lower_bound(inst, done)
