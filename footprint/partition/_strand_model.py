"""Stranding's model, and the verdict on each connected piece of the open practices.

The model completes a CCG with the fewest groups out of band and not exempt among the
groups it forms (stage 1 of the plan model, :func:`least_out_of_band`), and marks each
practice in such a group. Per practice the question is whether its indicator is 1 in
every best completion (stranded) or in some (at risk), under stage 1 fixed at its optimum,
asked as yes or no for many practices at once (:func:`_classify`). Agreed groups take no joiners, so the
open practices are judged piece by piece: the connected pieces they form between the
agreed groups (:func:`_open_pieces`, :func:`_judge_piece`). A computation can be
abandoned from another thread (:class:`Cancel`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from ortools.sat.python import cp_model

from footprint.config import BREAKS, SolveOptions
from footprint.errors import CancelledError
from footprint.partition._instance import Instance, members_of
from footprint.partition.model import PartitionModel, add_hints, build_model
from footprint.partition.solve import run_stages, solver_from_options
from footprint.partition.stages import STAGE_REGISTRY, StageResult
from footprint.partition.warmstart import components, warm_start

__all__ = ["Cancel", "least_out_of_band"]

_STAGE1 = ("out_of_band",)


# --------------------------------------------------------------------------------------
# The model: stage 1, and each practice's indicator of a group out of band
# --------------------------------------------------------------------------------------


def _add_bad(pm: PartitionModel) -> dict[int, cp_model.IntVar]:
    """Add ``bad[i]``: practice ``i`` is in a group out of band and not exempt."""
    model, tree, band, inst = pm.model, pm.forest, pm.band, pm.inst
    low, high = inst.rules.band.low, inst.rules.band.high
    bad = {i: model.new_bool_var(f"bad[{i}]") for i in range(inst.n)}
    for i in range(inst.n):
        # A root's indicator is its group's count; a child carries its parent's.
        model.add(bad[i] == band.not_exempt[i]).only_enforce_if(tree.root[i])
        # Counted only at a root whose group truly lies out of band (exact even where the
        # count is not fixed at a proven optimum).
        model.add_implication(band.not_exempt[i], tree.root[i])
        lo, hi = model.new_bool_var(f"lo[{i}]"), model.new_bool_var(f"hi[{i}]")
        model.add_bool_or([lo, hi]).only_enforce_if(band.not_exempt[i])
        model.add(tree.supply[i] <= low - 1).only_enforce_if(lo)
        model.add(tree.supply[i] >= high + 1).only_enforce_if(hi)
    for i, j in inst.arcs:
        model.add(bad[j] == bad[i]).only_enforce_if(tree.arc[i, j])
    return bad


def least_out_of_band(inst: Instance, options: SolveOptions) -> tuple[list[int], StageResult, PartitionModel]:
    """Return a grouping with the fewest groups out of band and not exempt (stage 1), its result and model.

    The stage's value and proven bound are left fixed on the returned model.
    """
    # The warm start searches wider where it misses the stage's bound, as the plan's does.
    target = STAGE_REGISTRY["out_of_band"].lower_bound(inst, {})
    labels = warm_start(inst, seed=options.seed, target=target)
    pm = build_model(inst, stages=_STAGE1)
    pm.parts["bad"] = _add_bad(pm)
    labels, (result,) = run_stages(pm, labels, _STAGE1, options)
    # Implied, stated so that the relaxation bounds the practices in bad groups from below:
    # the stage's proven bound, and a group counted is bad.
    pm.model.add(STAGE_REGISTRY["out_of_band"].expression(pm) >= math.ceil(result.bound - 1e-9))
    for i, bad in pm.parts["bad"].items():
        pm.model.add_implication(pm.band.not_exempt[i], bad)
    return labels, result, pm


class Cancel:
    """A flag that abandons a stranding computation from another thread.

    :func:`strands` checks it between solves and stops a running CP-SAT search at once
    (``stop_search``); the computation then raises :class:`~footprint.errors.CancelledError`.

    Examples
    --------
    >>> cancel = Cancel()
    >>> cancel.is_set()
    False
    >>> cancel.set()
    >>> cancel.check()
    Traceback (most recent call last):
    ...
    footprint.errors.CancelledError: the stranding computation was cancelled
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._solvers: list[cp_model.CpSolver] = []

    def set(self) -> None:
        """Abandon the computation: stop any search under way; the next check raises."""
        with self._lock:
            self._set = True
            running = list(self._solvers)
        for solver in running:
            solver.stop_search()

    def is_set(self) -> bool:
        """Return whether the computation was abandoned."""
        return self._set

    def check(self) -> None:
        """Raise :class:`~footprint.errors.CancelledError` if the computation was abandoned."""
        if self._set:
            msg = "the stranding computation was cancelled"
            raise CancelledError(msg)

    def solve(self, solver: cp_model.CpSolver, model: cp_model.CpModel) -> cp_model.CpSolverStatus:
        """Return ``solver.solve(model)``'s status, the search stoppable by :meth:`set`.

        Raises
        ------
        CancelledError
            If the computation was abandoned before or during the search.
        """
        with self._lock:
            self.check()
            self._solvers.append(solver)
        try:
            status = solver.solve(model)
        finally:
            with self._lock:
                self._solvers.remove(solver)
        self.check()  # a stopped search's answer is not to be read as the problem's
        return status


def _solve(
    pm: PartitionModel,
    objective: cp_model.LinearExprT | None,
    labels: Sequence[int],
    options: SolveOptions,
    *,
    some: Sequence[cp_model.LiteralT] = (),
    fixed: bool = False,
    cancel: Cancel | None = None,
) -> tuple[str, list[int] | None, cp_model.CpSolver]:
    """Minimise ``objective`` (or find any solution) on a clone of ``pm.model`` from the hint ``labels``.

    ``some``: at least one of these literals holds. ``fixed``: the hinted variables are
    fixed (the grouping is only checked and scored).
    """
    model = pm.model.clone()
    model.add(pm.forest.ordered_roots == 1)
    add_hints(pm, model, labels, centre_roots=False)
    for group in members_of(labels).values():
        breaks = pm.inst.status(group) in BREAKS
        for i in group:
            model.add_hint(pm.parts["bad"][i], breaks)
    if some:
        model.add_bool_or(some)
    if objective is not None:
        model.minimize(objective)
    solver = solver_from_options(options, limit=options.proof_limit_s, workers=options.workers)
    solver.parameters.fix_variables_to_their_hinted_value = fixed
    status = (cancel or Cancel()).solve(solver, model)
    if status == cp_model.OPTIMAL:
        return "OPTIMAL", pm.labels(solver), solver
    if status == cp_model.FEASIBLE:
        return "FEASIBLE", pm.labels(solver), solver
    return "UNKNOWN" if status == cp_model.UNKNOWN else "INFEASIBLE", None, solver


def _locked_breaks(inst: Instance, groups: Iterable[int] | None = None) -> int:
    """Return how many agreed groups (default all) are out of band and not exempt (counted in stage 1 too)."""
    chosen = range(len(inst.locked)) if groups is None else groups
    return sum(inst.status(inst.locked[k]) in BREAKS for k in chosen)


def _classify(
    pm: PartitionModel,
    labels: list[int],
    free: list[int],
    options: SolveOptions,
    *,
    cancel: Cancel | None = None,
) -> tuple[list[int], set[int], set[int], bool]:
    """Return one completion with the fewest practices in bad groups, the stranded, the at risk, proven."""
    bad = pm.parts["bad"]
    status, best, solver = _solve(pm, sum(bad[i] for i in free), labels, options, cancel=cancel)
    if best is None:
        return labels, set(), set(), False
    proven = status == "OPTIMAL"
    risky = {i for i in free if solver.value(bad[i])}
    flips = partial(_flips, pm, best, options, cancel=cancel)
    # Stranded: the candidates bad in every best completion (drop those some completion frees).
    stranded = set(risky)
    while stranded:
        freed, answered = flips(sorted(stranded), to_bad=False)
        if not freed:
            proven = proven and answered
            break
        stranded -= freed
    # At risk: bad in some best completion (add those some completion puts in a bad group),
    # the best completion with its bad groups grown checked first.
    unseen = [i for i in free if i not in risky and not pm.inst.big[i]]
    grown: list[int] | None = _bad_grown(pm.inst, best)
    while unseen:
        hit, answered = flips(unseen, to_bad=True, first=grown)
        grown = None  # checked once: it flips none of those still unseen
        if not hit:
            proven = proven and answered
            break
        risky |= hit
        unseen = [i for i in unseen if i not in hit]
    return best, stranded, risky - stranded, proven


def _flips(
    pm: PartitionModel,
    best: list[int],
    options: SolveOptions,
    these: Sequence[int],
    *,
    to_bad: bool,
    first: Sequence[int] | None = None,
    cancel: Cancel | None = None,
) -> tuple[set[int], bool]:
    """Return those of ``these`` a best completion puts in a bad group (``to_bad``) or out of one.

    Any such completion answers, not only the one flipping the most. A grouping ``first``
    (for ``to_bad``, the best completion with its bad groups grown: :func:`_bad_grown`) is
    tried first, as it stands (a solve with every hinted variable fixed: CP-SAT checks it
    whole); where there is none, or it flips none, the question is put as a yes or no,
    within the proof limit. Returns the practices flipped (none when no completion flips
    one) and whether that is proven.
    """
    bad = pm.parts["bad"]
    flipped = [bad[i] if to_bad else bad[i].Not() for i in these]
    found = None
    if first is not None:
        _, found, solver = _solve(pm, sum(flipped), first, options, fixed=True, cancel=cancel)
    if found is None or not solver.objective_value:
        status, found, solver = _solve(pm, None, best, options, some=flipped, cancel=cancel)
        if found is None:
            return set(), status == "INFEASIBLE"
    return {i for i, literal in zip(these, flipped, strict=True) if solver.boolean_value(literal)}, True


def _bad_grown(inst: Instance, labels: Sequence[int]) -> list[int]:
    """Return ``labels`` with each bad group grown over every group it can take in and stay bad.

    Where the fewest bad groups are proven, a bad group joined by a neighbouring group stays
    bad (else there would be fewer), so this is often a best completion that puts every
    practice it can reach in a bad group: the hint for who is at risk.
    """
    groups = members_of(labels)
    near = inst.neighbours()
    grown = list(labels)
    stack = [label for label, group in groups.items() if inst.status(group) in BREAKS]
    while stack:
        label = stack.pop()
        if label not in groups:
            continue  # taken in by another bad group
        for other in sorted({grown[j] for i in groups[label] for j in near[i]} - {label}):
            joined = groups[label] + groups[other]
            if inst.status(joined) in BREAKS:
                for i in groups.pop(other):
                    grown[i] = label
                groups[label] = sorted(joined)
                stack.append(label)
                break
    return grown


# --------------------------------------------------------------------------------------
# The open practices, piece by piece
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """One connected piece of the open practices, judged on its own (practice indices of the CCG)."""

    members: tuple[int, ...]
    #: Each member's group in one best completion of the piece, named by its smallest member.
    group_of: Mapping[int, int]
    least: StageResult
    stranded: frozenset[int]
    at_risk: frozenset[int]
    proven: bool


def _open_pieces(inst: Instance, agreed: set[int]) -> list[list[int]]:
    """Return the connected pieces of the open practices that may group (not agreed, not standing alone).

    Agreed groups take no joiners and a practice over the band stands alone, so every group
    a completion forms lies within one piece, and the pieces are completed independently.
    """
    movable = [i for i in range(inst.n) if i not in agreed and not inst.big[i]]
    return [sorted(piece) for piece in _pieces(movable, inst.neighbours())]


def _judge_piece(inst: Instance, members: list[int], options: SolveOptions, cancel: Cancel) -> _Piece:
    """Judge one piece of open practices: its least number of bad groups, who is stranded or at risk."""
    cancel.check()
    if len(members) == 1:
        # A practice with no open neighbour is its own group: stranded exactly when that breaks the band.
        (i,) = members
        bad = inst.status([i]) in BREAKS
        least = StageResult("out_of_band", float(bad), float(bad), "OPTIMAL", 0.0)
        return _Piece((i,), {i: i}, least, frozenset({i} if bad else ()), frozenset(), True)
    part = inst.restrict(members)
    labels, least, pm = least_out_of_band(part, options)
    stranded: set[int] = set()
    at_risk: set[int] = set()
    proven = least.proven
    if least.value > 0:
        labels, stranded, at_risk, classified = _classify(
            pm, labels, list(range(part.n)), options, cancel=cancel
        )
        proven = proven and classified
    group_of = {members[k]: members[group[0]] for group in members_of(labels).values() for k in group}
    return _Piece(
        tuple(members),
        group_of,
        least,
        frozenset(members[k] for k in stranded),
        frozenset(members[k] for k in at_risk),
        proven,
    )


def _pieces(practices: Iterable[int], adjacency: Sequence[Sequence[int]]) -> list[set[int]]:
    """Return the connected pieces of ``practices``, in order of their smallest practice."""
    inside = set(practices)
    return list(components({i: [j for j in adjacency[i] if j in inside] for i in sorted(inside)}))
