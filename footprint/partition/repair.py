"""Repair an existing plan: keep what works, mend what is broken, moving the fewest practices.

The same CP-SAT model as a plan, started from the existing groups, with repair's own
rules and stages. Hard rules, besides a plan's (every group connected and inside its CCG,
so existing groups in pieces or across a CCG line are cut, unless allow-cross lets their
practices join):

- no in-band group leaves the band: every practice of an existing group (a connected
  piece of it within the CCG) that is in band ends in a group in band;
- no group above the ceiling gains patients: a group above it holds the practices of one
  existing group only.

Agreed (locked) groups are kept as agreed. Where a pair of practices kept together (or a
lock) leaves no repair within these rules, the CCG is repaired without them and says so.
The stages, in order:

- ``below`` (default) or ``out_of_band`` (with ``split_large``: groups above the ceiling
  are brought into band too, where the rules let them): the errors that can be mended
  are; those that cannot are kept and explained (:attr:`CcgRepair.unrepairable`); with
  ``split_large`` a search that leaves them unproven searches on longer (``SPLIT_LIMIT_S``);
- ``moves``: practices not left in the group matched to their existing group (the
  transfer distance; open practices are placed and counted apart), searched for
  ``MOVES_LIMIT_S`` (and ``REPAIR_LIMIT_S`` where the errors needed no search: one budget
  per CCG) or the options' ``time_limit_s`` where longer, with a lower bound
  from what each broken group must lose at least (see ``_repair_bound``) beside CP-SAT's
  own, which the moves' flags and repair's rules restated on them give it
  (:func:`~footprint.partition.model.add_moves`); where that leaves them unproven, the
  moves are solved as a set partitioning over (group, PCN) pairs from the repair found
  (``_moves_cover``): its relaxation's bound, and the least repair its covers find;
- ``moved_patients``: the patients of the practices moved (evaluated, a tie-breaker);
- then the plan's own stages as tie-breakers.

The errors are searched on a model without the moves' flags, the moves on one with them.

The search starts from the existing groups cut into pieces and mended greedily within the
rules, with and without sharing groups out among their neighbours, whichever is better
(see ``_repair_start``). Groups that continue an existing group keep its id
(:func:`footprint.plan.name_groups`, the one rule for plan ids). Why each practice moves,
in planners' words, is :func:`repair_moves` (``_repair_reasons``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import networkx as nx
from ortools.sat.python import cp_model

from footprint._pool import imap_unordered, in_process
from footprint.config import GroupStatus, Rules, SolveOptions
from footprint.errors import InfeasibleError, PlanError
from footprint.partition._instance import (
    Instance,
    PlanInputs,
    group_ids,
    instances_from_graph,
    match_current,
    members_of,
)
from footprint.partition._moves_cover import least_moves
from footprint.partition._repair_bound import moves_lower_bound
from footprint.partition._repair_reasons import repair_moves, unrepairable_reasons
from footprint.partition._repair_start import RepairRules, mended, repair_rules, repair_start
from footprint.partition.model import Builder, PartitionModel, build_model, pair_indices
from footprint.partition.pairs import check_pairs, pair_builders
from footprint.partition.solve import CcgResult, ccg_result, check_params, run_stages
from footprint.partition.stages import STAGE_REGISTRY, Grouping, Stage, StageResult
from footprint.plan import Plan, name_groups, rename_ids_in, transfer_distance

__all__ = [
    "REPAIR_STAGES",
    "CcgRepair",
    "add_repair_rules",
    "band_figures",
    "repair_moves",
    "repair_plan",
    "repair_stages",
]

logger = logging.getLogger(__name__)

#: Deterministic seconds per CCG for repair's first stage, the errors (at most the proof limit).
REPAIR_LIMIT_S = 0.5
#: Deterministic seconds per CCG for the errors with split_large, where the first search leaves
#: them unproven (at most the proof limit).
SPLIT_LIMIT_S = 5.0
#: Deterministic seconds to find a grouping within the rules where repair's start breaks one
#: (pairs kept together it could not put together).
UNMET_LIMIT_S = 3.0
#: Deterministic seconds per CCG for the moves (at most the proof limit), and REPAIR_LIMIT_S
#: more where the errors needed no search; where they miss their bound, the gap is reported.
#: Over England 0.75 s proves 82 CCGs in 60 s, 1 s 85 in 63 s, 1.5 s 87 in 74 s (a quiet
#: machine; it runs a third slower at times, and 90 s must hold then too); 1 s with the errors'
#: 0.5 s where unused, 87 in 60 s.
MOVES_LIMIT_S = 1.0
#: CP-SAT parameters of the moves' searches (the caller's own ``params`` come after them): one
#: round of presolve and no probing in it leave the search its limit (probing took all of
#: W2U3Z's 0.75 s; without it, 82 CCGs proven over England, not 81, and 709 moves, not 719), and
#: the proofs come from propagation, not the linear relaxation, which only slows them (without
#: it 69 CCGs proven over England at 0.5 s, not 59, in 64 s, not 89). The errors' search keeps
#: its probing: without it, 7 groups were left unrepairable over England, not 6.
MOVES_PARAMS = "cp_model_probing_level:0 max_presolve_iterations:1 linearization_level:0"


# --------------------------------------------------------------------------------------
# The model: repair's rules and stages
# --------------------------------------------------------------------------------------


def add_below(pm: PartitionModel) -> None:
    """Add ``below[j]``: root ``j``'s group lies below the floor and is not exempt (stage ``below``)."""
    model, tree, band, inst = pm.model, pm.forest, pm.band, pm.inst
    high = inst.rules.band.high
    below = {}
    for j in range(inst.n):
        below[j] = model.new_bool_var(f"below[{j}]")
        above = model.new_bool_var(f"above[{j}]")
        model.add(tree.supply[j] >= high + 1).only_enforce_if(above)
        # A root out of band and not exempt is below the floor unless it is above the ceiling.
        model.add(below[j] >= tree.root[j] - band.in_band[j] - band.exempt[j] - above)
    pm.parts["below"] = below


def add_repair_rules(pm: PartitionModel, rules: RepairRules) -> None:
    """Add repair's hard rules: in-band groups stay in band, groups above the ceiling gain no one.

    ``inband[i]`` and ``large[i]`` carry, along every arc of the forest, whether practice
    ``i``'s group is in band and whether it may lie above the ceiling. The rules are also a
    check on any grouping (``pm.checks``), so a start that breaks them is never taken as
    proven without search.
    """
    pm.checks.append(rules)
    if not rules.active:
        return
    model, tree, band, inst = pm.model, pm.forest, pm.band, pm.inst
    high = inst.rules.band.high
    if rules.protected:
        inband = {i: model.new_bool_var(f"inband[{i}]") for i in range(inst.n)}
        for i in range(inst.n):
            # A root's flag is its group's; a child carries its parent's.
            model.add(inband[i] == band.in_band[i]).only_enforce_if(tree.root[i])
        for i, j in inst.arcs:
            model.add(inband[j] == inband[i]).only_enforce_if(tree.arc[i, j])
        for i in sorted(rules.protected):
            # A practice of an in-band group ends in a group in band.
            model.add(inband[i] == 1)
        pm.parts["inband"] = inband
    large = {i: model.new_bool_var(f"large[{i}]") for i in range(inst.n)}
    for j in range(inst.n):
        # A group (its root's supply) lies above the ceiling only where its flag allows it.
        model.add(tree.supply[j] <= high).only_enforce_if(large[j].Not())
    for i, j in inst.arcs:
        model.add(large[j] == large[i]).only_enforce_if(tree.arc[i, j])
        if rules.origin[i] != rules.origin[j] and not (i in rules.agreed and j in rules.agreed):
            # Practices of two existing groups together: their group may not lie above the ceiling.
            model.add_implication(tree.arc[i, j], large[j].Not())
    pm.parts["large"] = large
    if pm.moves is not None:
        _add_rules_on_flags(pm, rules)


def _add_rules_on_flags(pm: PartitionModel, rules: RepairRules) -> None:
    """Restate repair's rules as linear sums over the moves' flags (redundant, for CP-SAT's bound).

    A protected practice left in the group flagged for its PCN holds that group in band, so
    a group that loses practices must be joined by others (each of them a move) to stay
    there; a flagged group holds a practice of its PCN (else it may as well go unflagged),
    so it lies within the ceiling or is that PCN's alone, no larger; and one that any other
    practice joins lies within the ceiling, so a PCN above it keeps no more than the ceiling
    of its own where it takes anyone in (01T's repair proven at 9 moves in 0.4 s: without
    this, not in 20 s). Not stated where locked groups, which may exceed the ceiling, are about.
    """
    assert pm.moves is not None and pm.inst.current is not None
    model, inst, moves, current = pm.model, pm.inst, pm.moves, pm.inst.current
    band, sizes = inst.rules.band, inst.sizes
    flags: dict[int, list[tuple[int, cp_model.IntVar]]] = {}
    for (j, c), flag in moves.member.items():
        flags.setdefault(c, []).append((j, flag))
    size = {c: sum(sizes[j] * flag for j, flag in pairs) for c, pairs in flags.items()}
    for i in sorted(rules.protected):
        model.add(size[current[i]] >= band.low * moves.stay[i])
    if rules.agreed:
        return
    for c, pairs in flags.items():
        own = [flag for j, flag in pairs if current[j] == c]
        joiners = [flag for j, flag in pairs if current[j] != c]
        model.add(sum(own) >= moves.flagged[c])
        total = sum(sizes[j] for j, _ in pairs if current[j] == c)
        model.add(size[c] <= max(band.high, total) * moves.flagged[c])
        if total > band.high and joiners:
            # Joined by a practice of another PCN (or an open one), it may not lie above the ceiling.
            mixed = model.new_bool_var(f"mixed[{c}]")
            for flag in joiners:
                model.add_implication(flag, mixed)
            model.add(size[c] <= band.high).only_enforce_if(mixed)


def _below_expression(pm: PartitionModel) -> cp_model.LinearExprT:
    if "below" not in pm.parts:
        add_below(pm)
    return sum(pm.parts["below"].values())


def _moved_patients_expression(pm: PartitionModel) -> cp_model.LinearExprT:
    if pm.moves is None:
        msg = "the moved_patients stage needs the model built with the moves stage"
        raise ValueError(msg)
    sizes = pm.inst.sizes
    return sum(sizes[i] * (1 - stay) for i, stay in pm.moves.stay.items())


def _below_count(g: Grouping) -> float:
    return float(sum(s == "below" for s in g.statuses))


def _moved_patients(g: Grouping) -> float:
    inst = g.inst
    if inst.current is None:
        return 0.0
    centre_of, _ = g.centred_forest
    matched = match_current(inst, centre_of)
    return float(
        sum(inst.sizes[i] for i, c in enumerate(inst.current) if c >= 0 and matched.get(c) != centre_of[i])
    )


def _bound_below(inst: Instance, _done: Mapping[str, StageResult]) -> float:
    return float(sum(inst.status(group) == "below" for group in inst.fixed_groups()))


def _zero(_inst: Instance, _done: Mapping[str, StageResult]) -> float:
    return 0.0


#: The plan's stages and repair's own two.
REPAIR_STAGES: dict[str, Stage] = {
    **STAGE_REGISTRY,
    "below": Stage("below", _below_expression, _below_count, _bound_below),
    "moved_patients": Stage("moved_patients", _moved_patients_expression, _moved_patients, _zero),
}


def repair_stages(rules: Rules, *, split_large: bool = False) -> tuple[str, ...]:
    """Return repair's stages: the errors, moves, patients moved, then the plan's stages as tie-breakers."""
    first = "out_of_band" if split_large else "below"
    head = (first, "moves", "moved_patients")
    return head + tuple(s for s in rules.stages if s not in head)


def _registry(stages: Sequence[str], rules: RepairRules) -> dict[str, Stage]:
    """Return repair's stages with the moves' bound and search of this CCG (its rules, its errors left)."""
    first = stages[0]
    breaks: tuple[GroupStatus, ...] = ("below", "above") if first == "out_of_band" else ("below",)

    def left(inst: Instance, done: Mapping[str, StageResult]) -> int:
        return round(done[first].value) if first in done else inst.n

    def bound(inst: Instance, done: Mapping[str, StageResult]) -> float:
        together, apart = rules.together, rules.apart
        return float(
            moves_lower_bound(inst, breaks=breaks, left=left(inst, done), together=together, apart=apart)
        )

    def search(
        inst: Instance, done: Mapping[str, StageResult], labels: Sequence[int], *, seed: int
    ) -> tuple[list[int] | None, float]:
        return least_moves(inst, rules, labels, breaks=breaks, left=left(inst, done), seed=seed)

    moves = STAGE_REGISTRY["moves"]
    return {**REPAIR_STAGES, "moves": replace(moves, lower_bound=bound, search=search, search_first=False)}


# --------------------------------------------------------------------------------------
# One CCG
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CcgRepair:
    """What a repair of one CCG did, beside its :class:`~footprint.partition.CcgResult`.

    ``unrepairable`` maps the PCN id of each group the repair leaves breaking the band to
    why it cannot be mended within the rules. ``rules_kept`` is false where the pairs kept
    together (or a lock) left no repair within repair's rules: the CCG was then repaired
    without them.
    """

    ccg_code: str
    moves: int
    bound: int
    proven: bool
    moved_patients: int
    errors_left: int
    open_placed: int
    unrepairable: Mapping[str, str] = field(default_factory=dict)
    rules_kept: bool = True

    def to_dict(self, renamed: Mapping[str, str] | None = None) -> dict:
        """Return the figures as plain data for JSON (PCN ids renamed as ``renamed`` says)."""
        renamed = renamed or {}
        return {
            "moves": self.moves,
            "bound": self.bound,
            "gap": self.moves - self.bound,
            "proven": self.proven,
            "moved_patients": self.moved_patients,
            "errors_left": self.errors_left,
            "open_placed": self.open_placed,
            "rules_kept": self.rules_kept,
            "unrepairable": [
                {"pcn": rename_ids_in(pcn, renamed), "why": rename_ids_in(why, renamed)}
                for pcn, why in self.unrepairable.items()
            ],
        }


def _solve(
    inst: Instance,
    options: SolveOptions,
    stages: Sequence[str],
    extra: Sequence[Builder],
    pairs: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    *,
    active: bool,
) -> tuple[list[int], list[StageResult], RepairRules]:
    together, apart = pairs
    rules = repair_rules(inst, together=together, apart=apart, active=active)
    builders: list[Builder] = [*extra, partial(add_repair_rules, rules=rules)]
    # A group of two existing groups may not lie above the ceiling: the moves' flags use it.
    high = inst.rules.band.high if rules.active else None

    def built(searched: Sequence[str]) -> PartitionModel:
        keep = inst.rules.keep_sites
        pm = build_model(inst, stages=searched, keep_sites=keep, extra=builders, mixed_high=high)
        add_below(pm)
        return pm

    pm = built(stages)
    split_large = stages[0] == "out_of_band"
    # Two greedy starts, groups shared out or not (each does better in some CCGs): the better one.
    starts = [repair_start(inst, rules, split_large=split_large, share_out=share) for share in (False, True)]
    first = REPAIR_STAGES[stages[0]].evaluate

    def rank(labels: list[int]) -> tuple[bool, float, float, float]:
        grouping = Grouping(inst, labels)
        moves = STAGE_REGISTRY["moves"].evaluate(grouping)
        return not pm.holds(labels), first(grouping), moves, _moved_patients(grouping)

    start = min(starts, key=rank)
    limited = replace(options, proof_limit_s=min(options.proof_limit_s, REPAIR_LIMIT_S))
    registry = _registry(stages, rules)
    bound = registry[stages[0]].lower_bound(inst, {})
    proven_at_start = pm.holds(start) and bound is not None and first(Grouping(inst, start)) <= bound
    if proven_at_start:
        # The start leaves no more errors than the bound: proven without a search.
        labels, results = run_stages(pm, start, stages[:1], limited, registry=registry)
    else:
        # The errors are searched on a model without the moves' flags, which slow that search
        # down (15 groups left unrepairable over England at the same limit, not 6).
        labels, results = _errors(built(stages[:1]), start, stages, options, registry, rules)
        pm.model.add(registry[stages[0]].expression(pm) <= round(results[0].value))
        if rank(start)[:2] == rank(labels)[:2]:
            # The search may leave as many errors as the start with more moves: the fewer.
            labels = min(labels, start, key=rank)
    # The moves are searched MOVES_LIMIT_S, and the errors' REPAIR_LIMIT_S too where the errors
    # needed no search (one budget per CCG), or the time limit where it is longer (a planner
    # searching one CCG longer), at most the proof limit.
    params = f"{MOVES_PARAMS} {options.params}".strip()
    budget = MOVES_LIMIT_S + (REPAIR_LIMIT_S if proven_at_start else 0.0)
    limit = min(options.proof_limit_s, max(budget, options.time_limit_s))
    moving = replace(options, proof_limit_s=limit, params=params)
    labels, results = run_stages(
        pm, labels, stages[:2], moving, done=results, registry=registry, proof_stages=2
    )
    # The patients moved and the plan's stages only break ties: evaluated on the repair, not
    # searched (a search of the patients moved lowered England's by 0.3% for 8 s of its 98).
    quick = replace(limited, fast=True)
    labels, results = run_stages(pm, labels, stages, quick, done=results, registry=registry, proof_stages=2)
    return labels, results, rules


def _errors(
    pm: PartitionModel,
    start: list[int],
    stages: Sequence[str],
    options: SolveOptions,
    registry: Mapping[str, Stage],
    rules: RepairRules,
) -> tuple[list[int], list[StageResult]]:
    """Search the errors (the first stage) on ``pm`` from ``start``; return the grouping and result."""
    inst, split_large = pm.inst, stages[0] == "out_of_band"
    if not pm.holds(start):
        # Pairs kept together that the start could not put together within the rules: the
        # search finds a grouping within them first, whose groups are then mended as the start's.
        unmet = replace(options, proof_limit_s=min(options.proof_limit_s, UNMET_LIMIT_S))
        found, _ = run_stages(pm, start, stages[:1], unmet, registry=registry)
        start = mended(inst, rules, found, split_large=split_large)
    limited = replace(options, proof_limit_s=min(options.proof_limit_s, REPAIR_LIMIT_S))
    labels, results = run_stages(pm, start, stages[:1], limited, registry=registry)
    if split_large and not results[0].proven and options.proof_limit_s > REPAIR_LIMIT_S:
        # Groups above the ceiling cut into band take a longer search than groups below the floor
        # mended (72Q: 3 groups out of band at 0.5 s, none at 5 s): searched on where not proven.
        longer = replace(options, proof_limit_s=min(options.proof_limit_s, SPLIT_LIMIT_S))
        labels, results = run_stages(pm, labels, stages[:1], longer, registry=registry)
    return labels, results


def repair_instance(
    inst: Instance,
    options: SolveOptions,
    *,
    stages: Sequence[str],
    extra: Iterable[Builder] = (),
    together: Sequence[tuple[str, str]] = (),
    apart: Sequence[tuple[str, str]] = (),
) -> tuple[dict[str, str], CcgResult, CcgRepair]:
    """Repair one CCG stage by stage from its existing groups; return code to PCN id, and the results."""
    started = time.perf_counter()
    extra = list(extra)
    pairs = (pair_indices(inst, together), pair_indices(inst, apart))
    try:
        labels, results, rules = _solve(inst, options, stages, extra, pairs, active=True)
    except InfeasibleError:
        if not (pairs[0] or pairs[1] or inst.locked):
            raise
        logger.warning(
            "%s: the pairs or locks leave no repair within repair's rules; repaired without them", inst.ccg
        )
        labels, results, rules = _solve(inst, options, stages, extra, pairs, active=False)
    groups, result = ccg_result(inst, labels, results, start=started)
    ids = group_ids(inst, labels)
    first, moves, patients = results[0], results[1], results[2]
    breaks = ("below", "above") if stages[0] == "out_of_band" else ("below",)
    reasons = unrepairable_reasons(inst, labels, ids, rules, breaks=breaks, proven=first.proven)
    kept = {
        ids[g]: f"{ids[g]} ({sum(inst.sizes[i] for i in m):,} patients in {len(m)} practice(s)) is above "
        f"the ceiling of {inst.rules.band.high:,}: a warning, kept as it is or smaller (a group above the "
        "ceiling gains no one in a repair; split_large brings it into band where it can)"
        for g, m in members_of(labels).items()
        if inst.status(m) == "above" and "above" not in breaks
    }
    result = replace(result, explanations={**result.explanations, **kept, **reasons})
    assert inst.current is not None
    report = CcgRepair(
        ccg_code=inst.ccg,
        moves=round(moves.value),
        bound=round(moves.bound),
        proven=moves.proven,
        moved_patients=round(patients.value),
        errors_left=round(first.value),
        open_placed=sum(c < 0 for c in inst.current),
        unrepairable=reasons,
        rules_kept=rules.active,
    )
    return groups, result, report


def _keep_big_partners(inst: Instance) -> Instance:
    """Let a practice over the band stay in its existing group with others (that is no error)."""
    assert inst.current is not None
    shared = {c for c in inst.current if c >= 0 and sum(x == c for x in inst.current) > 1}
    return replace(inst, big=[big and inst.current[i] not in shared for i, big in enumerate(inst.big)])


# --------------------------------------------------------------------------------------
# The public call
# --------------------------------------------------------------------------------------


def repair_plan(  # noqa: PLR0913 - the public keyword-only options, as solve_plan's
    graph: nx.Graph,
    plan: Plan,
    *,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    split_large: bool = False,
    rural: Iterable[str] = (),
    lock: Plan | None = None,
    allow_cross: Mapping[str, str] | None = None,
    ccgs: Sequence[str] | None = None,
    approved: Iterable[str] = (),
    apart: Iterable[tuple[str, str]] = (),
    together: Iterable[tuple[str, str]] = (),
) -> Plan:
    """Return ``plan`` repaired: what works kept, what can be mended mended, fewest practices moved.

    No in-band group leaves the band and no group above the ceiling gains patients; the
    errors these rules leave are kept and explained. Then the fewest practices move, then
    the fewest patients.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`.
    plan
        The existing plan (e.g. the current PCNs, :func:`footprint.plan.plan_from_practices`);
        its open practices are placed, and counted apart from moves.
    rules, options, rural, lock, allow_cross, ccgs, approved, apart, together
        As for :func:`footprint.partition.solve_plan`.
    split_large
        Also bring groups above the ceiling into band where possible (by default they may stay).

    Returns
    -------
    Plan
        Groups that continue an existing group keep its id (:func:`footprint.plan.name_groups`);
        ``plan.info["ccgs"]`` maps CCG code to :class:`~footprint.partition.CcgResult` (stages
        ``below`` or ``out_of_band``, ``moves``, ``moved_patients``, then the plan's);
        ``plan.info["repair"]`` gives per CCG the moves, their bound, whether proven, the
        patients moved, the errors left, the open practices placed and each unrepairable
        group with why (:meth:`CcgRepair.to_dict`); ``plan.info["moved"]`` the moves over all
        England (the transfer distance).

    Raises
    ------
    DataError, PlanError, InfeasibleError
        As for :func:`footprint.partition.solve_plan`.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> from footprint.plan import plan_from_practices
    >>> practices = select_ccgs(read_practices(), ["00Q"])
    >>> graph = graph_from_practices(practices)
    >>> fixed = repair_plan(graph, plan_from_practices(practices), options=SolveOptions(processes=1))
    >>> figures = fixed.info["repair"]["00Q"]  # two practices cut off from their PCNs, one making room
    >>> figures["moves"], figures["bound"], figures["proven"]
    (3, 3, True)
    """
    rules = rules or Rules()
    options = options or SolveOptions()
    check_params(options.params)
    stages = repair_stages(rules, split_large=split_large)
    inputs = PlanInputs(
        rural=frozenset(rural),
        lock=lock,
        current=plan,
        allow_cross=allow_cross or {},
        ccgs=ccgs,
        approved=frozenset(approved),
    )
    instances = [_keep_big_partners(inst) for inst in instances_from_graph(graph, rules, inputs)]
    if not instances:
        msg = "nothing to repair: no practice of the CCGs asked for is in the graph"
        raise PlanError(msg)
    apart_pairs, together_pairs = check_pairs(graph, apart, together, allow_cross=allow_cross)
    extra = pair_builders(
        graph, instances, apart=apart_pairs, together=together_pairs, allow_cross=allow_cross
    )
    instances.sort(key=lambda inst: -inst.n)
    job = partial(
        repair_instance,
        options=options,
        stages=stages,
        extra=extra,
        together=together_pairs,
        apart=apart_pairs,
    )
    if options.processes == 1 or len(instances) == 1:
        solved = list(in_process(job, instances))
    else:
        solved = list(imap_unordered(job, instances, processes=options.processes))
    assignment: dict[str, str | None] = {}
    info: dict[str, CcgResult] = {}
    reports: dict[str, CcgRepair] = {}
    for groups, result, ccg_report in solved:
        assignment.update(groups)
        info[result.ccg_code] = result
        reports[ccg_report.ccg_code] = ccg_report
    repaired = name_groups(Plan(assignment, {"ccgs": dict(sorted(info.items()))}), agreed=lock, current=plan)
    renamed = repaired.info.get("renamed", {})
    report = {ccg: reports[ccg].to_dict(renamed) for ccg in sorted(reports)}
    before = plan.restrict(repaired.assignment)
    moved = transfer_distance(before, repaired)
    figures = {
        "before": band_figures(plan, graph, rules=rules, rural=rural, approved=approved),
        "after": band_figures(repaired, graph, rules=rules, rural=rural, approved=approved),
    }
    return Plan(repaired.assignment, {**repaired.info, "repair": report, "moved": moved, "figures": figures})


def band_figures(
    plan: Plan,
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    rural: Iterable[str] = (),
    approved: Iterable[str] = (),
) -> dict[str, float]:
    """Return a plan's groups, those above the ceiling and below the floor, and the share of patients in band.

    Groups are whole (every member in ``graph``); ``above`` and ``below`` count groups by
    their totals, exempt ones too; ``in_band_share`` is the share of patients in groups in band.

    Examples
    --------
    >>> g = nx.Graph()
    >>> g.add_node("A", list_size=40_000, ccg_code="X")
    >>> g.add_node("B", list_size=60_000, ccg_code="X")
    >>> band_figures(Plan({"A": "p", "B": "q"}), g)
    {'groups': 2, 'above': 1, 'below': 0, 'in_band_share': 0.4}
    """
    rules = rules or Rules()
    rural, approved = set(rural), set(approved)
    groups = above = below = 0
    patients = in_band = 0
    for pcn, members in plan.groups.items():
        inside = [c for c in members if c in graph]
        if not inside:
            continue
        total = int(sum(graph.nodes[c]["list_size"] for c in inside))
        is_rural = all(rules.is_rural(graph.nodes[c]["ccg_code"], flagged=c in rural) for c in inside)
        status = rules.group_status(total, practices=len(inside), rural=is_rural, approved=pcn in approved)
        groups += 1
        above += total > rules.band.high
        below += total < rules.band.low
        patients += total
        in_band += total if status == "in_band" else 0
    share = round(in_band / patients, 5) if patients else 0.0
    return {"groups": groups, "above": above, "below": below, "in_band_share": share}
