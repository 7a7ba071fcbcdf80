"""Stranding, exactly: which open practices the agreed groups leave with no valid PCN.

Given agreed groups (locked, closed to joiners) and open practices, the model completes a
CCG with the fewest groups out of band and not exempt among the groups it forms (stage 1
of the plan model with the agreed groups locked). A practice is **stranded** when every
such best completion leaves it in a group out of band and not exempt, **at risk** when
some do. The agreed groups **strand** practices when this least number is higher than
the CCG's least number with no group agreed (:attr:`CcgStranding.rise`).

Agreed groups are locked and closed to joiners, so a completion is a grouping of the open
practices alone, each group connected among them: the open practices are split into the
connected pieces they form (a practice over the band stands alone and splits them too), and
each piece is judged on its own model; the least numbers add up, and the agreed groups' own
breaks are counted apart. This is exact, and most pieces are a practice or a few.

Per practice the question is a minimisation (stranded: its indicator is 1 in every best
completion) or a maximisation (at risk: 1 in some) under stage 1 fixed at its optimum;
the work is cut by first finding one completion with the fewest practices in such groups
and testing only its practices (the candidates), a set at a time. The smallest change that
frees the stranded practices lets agreed groups release and admit practices: its model holds
only the agreed groups next to the stranded practices' pieces and the open pieces they touch.
CP-SAT searches it alone at first, then from the first of a few candidate changes (fewest
steps first) that frees them in a warm start.
A computation can be abandoned from another thread (:class:`Cancel`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import combinations

import networkx as nx
from ortools.sat.python import cp_model

from footprint._pool import imap_unordered
from footprint.config import Rules, SolveOptions
from footprint.errors import CancelledError, DataError, PlanError
from footprint.partition._instance import Instance, PlanInputs, instances_from_graph, members_of
from footprint.partition.model import PartitionModel, add_hints, build_model
from footprint.partition.pairs import check_locks
from footprint.partition.solve import run_stages, solver_from_options
from footprint.partition.stages import StageResult
from footprint.partition.warmstart import components, warm_start
from footprint.plan import Plan

__all__ = [
    "Cancel",
    "CcgStranding",
    "Change",
    "Stranding",
    "judged_instances",
    "least_out_of_band",
    "strand_instance",
    "strands",
]

logger = logging.getLogger(__name__)

_BREAKS = ("below", "above")
_STAGE1 = ("out_of_band",)
#: Deterministic seconds allowed to find the smallest change that frees stranded practices.
CHANGE_LIMIT_S = 2.0
#: Of those, the seconds CP-SAT searches unaided before the candidate changes are tried.
CHANGE_QUICK_S = 0.25
#: At most this many candidate changes (fewest steps first) are tried for a hint.
CHANGE_CANDIDATES = 60
#: The PCN id a proposal gets in the lock (unless a lock already uses it).
PROPOSAL_ID = "proposal"


@dataclass(frozen=True)
class Change:
    """One step of the smallest change that frees the stranded practices.

    ``kind`` is ``release`` (agreed group ``group`` lets practice ``practice`` go),
    ``admit`` (agreed group ``group`` takes in open practice ``practice``) or
    ``exception`` (no such change frees ``practice``: only a commissioner's exception would).
    """

    kind: str
    group: str
    practice: str
    text: str


@dataclass(frozen=True)
class CcgStranding:
    """Who the agreed groups of one CCG strand, and what frees them."""

    ccg_code: str
    baseline: StageResult
    least: StageResult
    stranded: tuple[str, ...] = ()
    at_risk: tuple[str, ...] = ()
    completion: Mapping[str, str] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    proven: bool = True
    seconds: float = 0.0
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def rise(self) -> int:
        """How many more groups must break the band with the agreed groups than with none."""
        return max(0, round(self.least.value) - round(self.baseline.value))

    @property
    def strands(self) -> bool:
        """Whether the agreed groups strand practices (the least number rises)."""
        return self.rise > 0

    def summary(self) -> str:
        """Return the CCG's stranding verdict in one planner's sentence."""
        proof = "proven" if self.proven and self.baseline.proven and self.least.proven else "not proven"
        head = (
            f"{self.ccg_code}: with the agreed groups at least {self.least.value:.0f} new group(s) "
            f"out of band where {self.baseline.value:.0f} is unavoidable with none agreed ({proof})"
        )
        if not self.stranded and not self.at_risk:
            return f"{head}; no practice stranded or at risk"
        stranded, at_risk = ", ".join(self.stranded) or "none", ", ".join(self.at_risk) or "none"
        return f"{head}; stranded: {stranded}; at risk: {at_risk}"

    def to_dict(self) -> dict:
        """Return the result as plain data for JSON."""
        return {
            "baseline": self.baseline.value,
            "baseline_proven": self.baseline.proven,
            "least": self.least.value,
            "least_proven": self.least.proven,
            "rise": self.rise,
            "proven": self.proven,
            "stranded": list(self.stranded),
            "at_risk": list(self.at_risk),
            "changes": [c.text for c in self.changes],
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Stranding:
    """The stranding verdict of every CCG judged, and one best completion of each."""

    ccgs: Mapping[str, CcgStranding]
    lock: Plan

    @property
    def stranded(self) -> list[str]:
        """Return every stranded practice."""
        return sorted(c for r in self.ccgs.values() for c in r.stranded)

    @property
    def at_risk(self) -> list[str]:
        """Return every practice at risk (but not stranded)."""
        return sorted(c for r in self.ccgs.values() for c in r.at_risk)

    @property
    def completion(self) -> Plan:
        """Return the agreed groups with one best completion of the open practices around them."""
        assignment: dict[str, str | None] = dict(self.lock.assignment)
        for result in self.ccgs.values():
            assignment.update(result.completion)
        return Plan(assignment)

    def findings(self) -> list[tuple[str, str, str, str, str, str]]:
        """Return rows ``(ccg_code, group, practice_code, rule, severity, detail)``.

        A stranded practice is an error (rule ``stranded``), one at risk a warning (``at_risk``).
        """
        rows = []
        for ccg, result in sorted(self.ccgs.items()):
            for code in result.stranded:
                rows.append((ccg, "", code, "stranded", "error", result.details[code]))
            for code in result.at_risk:
                rows.append((ccg, "", code, "at_risk", "warning", result.details[code]))
        return rows


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

    The stage's value is left fixed on the returned model.
    """
    labels = warm_start(inst, seed=options.seed)
    pm = build_model(inst, stages=_STAGE1)
    pm.parts["bad"] = _add_bad(pm)
    labels, (result,) = run_stages(pm, labels, _STAGE1, options)
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
    objective: cp_model.LinearExprT,
    labels: Sequence[int],
    options: SolveOptions,
    *,
    maximise: bool = False,
    cancel: Cancel | None = None,
) -> tuple[str, list[int] | None, cp_model.CpSolver]:
    """Optimise ``objective`` on a clone of ``pm.model`` from the hint ``labels``."""
    model = pm.model.clone()
    model.add(pm.forest.ordered_roots == 1)
    add_hints(pm, model, labels, centre_roots=False)
    if maximise:
        model.maximize(objective)
    else:
        model.minimize(objective)
    solver = solver_from_options(options, limit=options.proof_limit_s, workers=options.workers)
    status = (cancel or Cancel()).solve(solver, model)
    if status == cp_model.OPTIMAL:
        return "OPTIMAL", pm.labels(solver), solver
    if status == cp_model.FEASIBLE:
        return "FEASIBLE", pm.labels(solver), solver
    return "UNKNOWN" if status == cp_model.UNKNOWN else "INFEASIBLE", None, solver


def _locked_breaks(inst: Instance, groups: Iterable[int] | None = None) -> int:
    """Return how many agreed groups (default all) are out of band and not exempt (counted in stage 1 too)."""
    chosen = range(len(inst.locked)) if groups is None else groups
    return sum(inst.status(inst.locked[k]) in _BREAKS for k in chosen)


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
    solve = partial(_solve, pm, options=options, cancel=cancel)
    status, best, solver = solve(sum(bad[i] for i in free), labels)
    if best is None:
        return labels, set(), set(), False
    proven = status == "OPTIMAL"
    risky = {i for i in free if solver.value(bad[i])}
    # Stranded: the candidates bad in every best completion (minimise their count until none leaves).
    stranded = set(risky)
    while stranded:
        status, found, solver = solve(sum(bad[i] for i in stranded), best)
        if found is None:
            proven = False
            break
        leaving = {i for i in stranded if not solver.value(bad[i])}
        if not leaving:
            proven = proven and status == "OPTIMAL"
            break
        stranded -= leaving
    # At risk: bad in some best completion (maximise the count of those not yet seen bad).
    unseen = [i for i in free if i not in risky and not pm.inst.big[i]]
    while unseen:
        status, found, solver = solve(sum(bad[i] for i in unseen), best, maximise=True)
        if found is None:
            proven = False
            break
        hit = {i for i in unseen if solver.value(bad[i])}
        if not hit:
            proven = proven and status == "OPTIMAL"
            break
        risky |= hit
        unseen = [i for i in unseen if i not in hit]
    return best, stranded, risky - stranded, proven


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
        bad = inst.status([i]) in _BREAKS
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


# --------------------------------------------------------------------------------------
# The smallest change that frees the stranded practices
# --------------------------------------------------------------------------------------


def _around(inst: Instance, stranded: set[int], agreed: set[int]) -> tuple[set[int], set[int]]:
    """Return the agreed groups next to the stranded practices' open pieces, and those open practices."""
    adjacency = inst.neighbours()
    # The open pieces (practices over the band included) that hold a stranded practice.
    open_practices = (i for i in range(inst.n) if i not in agreed)
    admissible = set().union(*(piece for piece in _pieces(open_practices, adjacency) if piece & stranded))
    group_of = {i: k for k, group in enumerate(inst.locked) for i in group}
    near = {group_of[j] for i in admissible for j in adjacency[i] if j in group_of}
    return near, {i for i in admissible if not inst.big[i]}


def _change_scope(
    inst: Instance, near: set[int], admissible: set[int], pieces: Sequence[_Piece], total: int
) -> tuple[list[int], int]:
    """Return the practices a change of the ``near`` agreed groups can affect, and their budget.

    They are the near groups' members and every open piece that touches them or holds an
    admissible practice (a released member may join an open group next to it). Every other
    piece and agreed group is untouched, its groups as good as the best completion makes
    them: the budget of groups out of band among the practices returned is ``total`` less
    theirs.
    """
    reach = {i for k in near for i in inst.locked[k]}
    adjacency = inst.neighbours()
    touched = reach | admissible | {j for i in reach for j in adjacency[i]}
    scope = set(reach)
    outside = 0.0
    for piece in pieces:
        if touched.intersection(piece.members):
            scope.update(piece.members)
        else:
            outside += piece.least.value
    far = [k for k in range(len(inst.locked)) if k not in near]
    return sorted(scope), total - round(outside) - _locked_breaks(inst, far)


def _smallest_change(
    inst: Instance,
    stranded: set[int],
    total: int,
    options: SolveOptions,
    *,
    labels: Sequence[int] | None = None,
    pieces: Sequence[_Piece] | None = None,
    cancel: Cancel | None = None,
) -> tuple[Change, ...] | None:
    """Return the fewest releases and admissions by agreed groups that free ``stranded``, or ``None``.

    Agreed groups may release members (who become open, and may not join another agreed
    group) and take in open practices; each counts one. The stranded practices must end
    in no group out of band, and no more groups may break the band than now (``total``).

    Given the ``pieces`` of open practices already judged, the model holds only the agreed
    groups next to the stranded practices' open pieces and the open pieces those groups or
    the stranded practices touch (exact: no other practice can be affected); else the
    whole CCG. ``labels`` (a best completion, a label per practice) hints the search with
    no change made: CP-SAT repairs that hint far sooner than it finds a change unaided.
    """
    agreed = {i for group in inst.locked for i in group}
    near, admissible = _around(inst, stranded, agreed)
    if pieces is None:
        return _change_model(inst, stranded, near, admissible, total, options, labels=labels, cancel=cancel)
    scope, budget = _change_scope(inst, near, admissible, pieces, total)
    part = inst.restrict(scope)
    new = {i: k for k, i in enumerate(scope)}
    return _change_model(
        part,
        {new[s] for s in stranded},
        set(range(len(part.locked))),  # the near groups, and only they, are kept whole
        {new[i] for i in admissible},
        budget,
        options,
        labels=None if labels is None else [labels[i] for i in scope],
        cancel=cancel,
    )


#: A candidate change: the releases and the admissions, each ``(agreed group, practice)``.
Candidate = tuple[frozenset[tuple[int, int]], frozenset[tuple[int, int]]]
#: What a change that frees the stranded practices makes: a grouping, and each changed group.
Freed = tuple[list[int], dict[int, list[int]]]


@dataclass(frozen=True)
class _Question:
    """What a change must do: free the stranded practices within the rules of the change's model.

    The ``near`` agreed groups may release members and take in ``admissible`` practices, and
    no more than ``total`` groups may lie out of band and not exempt.
    """

    inst: Instance
    stranded: set[int]
    near: set[int]
    admissible: set[int]
    total: int


@dataclass
class _ChangeModel:
    """The smallest change's model: stage 1 of the loosened CCG, with the steps an agreed group may take."""

    pm: PartitionModel
    loose: Instance  # the CCG with the near agreed groups unlocked
    core: dict[int, cp_model.IntVar]  # each near group's root
    release: dict[tuple[int, int], cp_model.IntVar]  # (group, member) released
    admit: dict[tuple[int, int], cp_model.IntVar]  # (group, open practice) taken in
    bad: dict[int, cp_model.IntVar]

    def hint(
        self,
        labels: Sequence[int],
        groups: Mapping[int, Sequence[int]],
        taken: Candidate = (frozenset(), frozenset()),
    ) -> None:
        """Hint a grouping (``labels``) with each near group ``groups[k]`` after the steps ``taken``."""
        model = self.pm.model
        model.clear_hints()
        add_hints(self.pm, model, labels, centre_roots=False)
        for k, var in self.core.items():
            model.add_hint(var, min(groups[k]))
        for key, var in self.release.items():
            model.add_hint(var, key in taken[0])
        for key, var in self.admit.items():
            model.add_hint(var, key in taken[1])
        for members in members_of(labels).values():
            breaks = self.pm.inst.status(members) in _BREAKS
            for i in members:
                model.add_hint(self.bad[i], breaks)

    def hint_solution(self, solver: cp_model.CpSolver) -> None:
        """Hint every variable with its value in the solver's solution."""
        model = self.pm.model
        model.clear_hints()
        for index in range(len(model.proto.variables)):
            var = model.get_int_var_from_proto_index(index)
            model.add_hint(var, solver.value(var))


def _change_model(
    inst: Instance,
    stranded: set[int],
    near: set[int],
    admissible: set[int],
    total: int,
    options: SolveOptions,
    *,
    labels: Sequence[int] | None = None,
    cancel: Cancel | None = None,
) -> tuple[Change, ...] | None:
    """Solve :func:`_smallest_change`'s model on ``inst``: the ``near`` agreed groups may change."""
    # Only the agreed groups around the stranded practices may change; the rest stay locked.
    moving = sorted(near)
    loose = replace(
        inst,
        locked=[g for k, g in enumerate(inst.locked) if k not in near],
        approved=[a for k, a in enumerate(inst.approved) if k not in near],
        locked_ids=[p for k, p in enumerate(inst.locked_ids) if k not in near],
    )
    pm = build_model(loose, stages=_STAGE1)
    model, label = pm.model, pm.forest.label
    cm = _ChangeModel(pm, loose, {}, {}, {}, _add_bad(pm))
    cm.core.update({k: model.new_int_var(0, inst.n - 1, f"core[{k}]") for k in moving})
    if len(moving) > 1:
        # Agreed groups stay distinct.
        model.add_all_different(list(cm.core.values()))
    for k in moving:
        group = inst.locked[k]
        for i in group:
            # A member stays in its agreed group unless released.
            cm.release[k, i] = model.new_bool_var(f"release[{k},{i}]")
            model.add(label[i] == cm.core[k]).only_enforce_if(cm.release[k, i].Not())
        # An agreed group keeps at least one member.
        model.add(sum(cm.release[k, i] for i in group) <= len(group) - 1)
        for j in range(inst.n):
            if j in admissible:
                # An open practice near the stranded ones joins an agreed group only when admitted.
                cm.admit[k, j] = model.new_bool_var(f"admit[{k},{j}]")
                model.add(label[j] == cm.core[k]).only_enforce_if(cm.admit[k, j])
                model.add(label[j] != cm.core[k]).only_enforce_if(cm.admit[k, j].Not())
            elif j not in group:
                # No other practice joins it (a released member joins no other agreed group).
                model.add(label[j] != cm.core[k])
    for s in stranded:
        model.add(cm.bad[s] == 0)  # the stranded practices are freed
    model.add(pm.band.not_exempt_count <= total)  # and no more groups break the band than now
    model.add(pm.forest.ordered_roots == 1)
    steps = sum(cm.release.values()) + sum(cm.admit.values())
    if stranded:
        # Redundant: with no step taken every best completion leaves a stranded practice in
        # a group out of band, so freeing it takes at least one (the bound proves a one-step change).
        model.add(steps >= 1)
    model.minimize(steps)
    if labels is not None:
        cm.hint(labels, {k: inst.locked[k] for k in moving})
    question = _Question(inst, stranded, near, admissible, total)
    return _search_change(cm, question, options, cancel or Cancel())


def _search_change(
    cm: _ChangeModel, question: _Question, options: SolveOptions, cancel: Cancel
) -> tuple[Change, ...] | None:
    """Search the smallest change's model: CP-SAT alone first, then from a candidate change.

    A change of one step frees stranded practices at the least (none frees none), so a
    change of one step found is proven smallest.
    """
    inst, stranded = question.inst, question.stranded
    limit = min(options.proof_limit_s, CHANGE_LIMIT_S)
    quick = min(limit, CHANGE_QUICK_S)
    least = 1 if stranded else 0
    solver = solver_from_options(options, limit=quick, workers=options.workers)
    status = cancel.solve(solver, cm.pm.model)
    if status == cp_model.FEASIBLE and solver.objective_value > least and limit > quick:
        cm.hint_solution(solver)  # search on from the change found
        solver = solver_from_options(options, limit=limit - quick, workers=options.workers)
        status = cancel.solve(solver, cm.pm.model)
    elif status == cp_model.UNKNOWN and limit > quick:
        # Unaided, CP-SAT rarely finds a freeing change among many open practices: try the
        # smallest candidate changes in a warm start, and search on from the first that frees them.
        found = _candidate_change(cm.loose, question, seed=options.seed)
        if found is not None:
            taken, grouping, groups = found
            if len(taken[0]) + len(taken[1]) == least:
                return _changes_of(inst, *taken, proven=True)
            cm.hint(grouping, groups, taken)
        solver = solver_from_options(options, limit=limit - quick, workers=options.workers)
        status = cancel.solve(solver, cm.pm.model)
    if status == cp_model.UNKNOWN:
        return tuple(
            Change(
                "exception",
                "",
                inst.codes[s],
                f"no change of the agreed groups that frees {inst.codes[s]} was found within the time "
                "limit: a commissioner's exception would free it (or raise the proof limit to search longer)",
            )
            for s in sorted(stranded)
        )
    if status != cp_model.OPTIMAL and status != cp_model.FEASIBLE:
        return None
    return _changes_of(
        inst,
        {key for key, var in cm.release.items() if solver.value(var)},
        {key for key, var in cm.admit.items() if solver.value(var)},
        proven=status == cp_model.OPTIMAL or solver.objective_value <= least,
    )


def _candidates(inst: Instance, near: set[int], admissible: set[int]) -> list[Candidate]:
    """Return candidate changes (releases, admissions as ``(group, practice)``), fewest steps first.

    One step: a member of a ``near`` group next to an admissible practice released (with its
    building, where the rules keep buildings whole), or an admissible practice next to a near
    group taken in by it. Then a connected run of admissible practices taken in whole by a
    near group next to it; two single steps together; a near group's members next to them
    released, largest first, until they reach the band's floor (at most
    :data:`CHANGE_CANDIDATES` of these, fewest steps first, in a fixed order). Last, every
    such member released.
    """
    adjacency = inst.neighbours()
    group_of = {i: k for k in near for i in inst.locked[k]}
    # Where the rules keep buildings whole, a member is released with its building.
    site_of = {i: site for site in inst.sites for i in site} if inst.rules.keep_sites else {}
    walls = sorted(
        {
            frozenset((group_of[j], m) for m in site_of.get(j, [j]) if group_of.get(m) == group_of[j])
            for i in admissible
            for j in adjacency[i]
            if j in group_of
        },
        key=sorted,
    )
    admits = sorted({(group_of[j], i) for i in admissible for j in adjacency[i] if j in group_of})
    single: list[Candidate] = [(wall, frozenset()) for wall in walls]
    single += [(frozenset(), frozenset([a])) for a in admits]
    whole: list[Candidate] = [
        (frozenset(), frozenset((k, i) for i in run))
        for run in (sorted(piece) for piece in _pieces(admissible, adjacency))
        if len(run) > 1
        for k in sorted({group_of[j] for i in run for j in adjacency[i] if j in group_of})
    ]
    pairs = [(a[0] | b[0], a[1] | b[1]) for a, b in combinations(single, 2)]
    # A near group's walls released, largest first, until the admissible practices reach the floor.
    grown: list[Candidate] = []
    for k in sorted({next(iter(wall))[0] for wall in walls}):
        mine = sorted(
            (w for w in walls if next(iter(w))[0] == k), key=lambda w: -sum(inst.sizes[i] for _, i in w)
        )
        total, taken = sum(inst.sizes[i] for i in admissible), frozenset[tuple[int, int]]()
        for wall in mine:
            if total >= inst.rules.band.low:
                break
            total, taken = total + sum(inst.sizes[i] for _, i in wall), taken | wall
        grown.append((taken, frozenset()))
    found = sorted(
        {*single, *whole, *pairs, *grown},
        key=lambda c: (len(c[0]) + len(c[1]), sorted(c[0]), sorted(c[1])),
    )
    # Last, every wall released: large, but often free, and CP-SAT searches down from it.
    return [*found[:CHANGE_CANDIDATES], (frozenset().union(*walls), frozenset())]


def _candidate_change(
    loose: Instance, question: _Question, *, seed: int
) -> tuple[Candidate, list[int], dict[int, list[int]]] | None:
    """Return the first candidate change that answers ``question`` in a warm start, its grouping and groups.

    ``loose`` is the question's instance with the ``near`` groups unlocked. A candidate frees
    the stranded practices when every changed group keeps a member and is connected, and a
    warm start of the practices around the changed groups (kept whole) leaves no stranded
    practice in a group out of band and not exempt, and no more than ``total`` such groups
    (and no building split where the rules keep buildings whole): every rule of the change's
    model. Where no candidate frees them all, each piece of stranded practices (apart from
    the others) is freed by the first candidate next to it that frees it, at most
    :data:`CHANGE_CANDIDATES` tried for all the pieces, and those changes are tried together.
    The change found is then cut down a step at a time while it still frees them. Returns
    ``None`` when no change is found.
    """
    inst, near, total = question.inst, question.near, question.total
    adjacency = inst.neighbours()

    def frees(chosen: Candidate, stranded: set[int]) -> Freed | None:
        release, admit = chosen
        admitted = [j for _, j in admit]
        if len(set(admitted)) < len(admitted):
            return None  # one practice taken in by two groups
        changed = {
            k: {i for i in inst.locked[k] if (k, i) not in release} | {j for g, j in admit if g == k}
            for k in sorted(near)
        }
        if not all(len(_pieces(group, adjacency)) == 1 for group in changed.values()):
            return None
        groups = {k: sorted(group) for k, group in changed.items()}
        # The changed groups are locked after the others: a changed group is never approved.
        variant = replace(loose, locked=[*loose.locked, *groups.values()])
        labels = warm_start(variant, seed=seed, target=float(total))
        if inst.rules.keep_sites and any(len({labels[i] for i in site}) > 1 for site in inst.sites):
            return None  # a building split where the rules keep them whole
        statuses = {g: variant.status(members) for g, members in members_of(labels).items()}
        breaking = sum(status in _BREAKS for status in statuses.values())
        if breaking > total or any(statuses[labels[s]] in _BREAKS for s in stranded):
            return None
        return labels, groups

    def first(candidates: Iterable[Candidate], stranded: set[int]) -> tuple[Candidate, Freed] | None:
        for chosen in candidates:
            if (found := frees(chosen, stranded)) is not None:
                return chosen, found
        return None

    hit = first(_candidates(inst, near, question.admissible), question.stranded)
    if hit is None and len(pieces := _pieces(question.admissible, adjacency)) > 1:
        # Each piece freed on its own (the tries shared), then all of them together.
        tries = iter(range(CHANGE_CANDIDATES))
        parts = []
        for piece in pieces:
            candidates = (c for c, _ in zip(_candidates(inst, near, piece), tries, strict=False))
            parts.append(first(candidates, question.stranded & piece))
        if all(part is not None for part in parts):
            chosen: Candidate = (
                frozenset().union(*(part[0][0] for part in parts if part)),
                frozenset().union(*(part[0][1] for part in parts if part)),
            )
            found = frees(chosen, question.stranded)
            hit = None if found is None else (chosen, found)
    if hit is None:
        return None
    chosen, found = _cut_down(*hit, lambda smaller: frees(smaller, question.stranded))
    return chosen, *found


def _cut_down(
    chosen: Candidate, found: Freed, frees: Callable[[Candidate], Freed | None]
) -> tuple[Candidate, Freed]:
    """Return ``chosen`` less every step (one at a time, in order) it still ``frees`` without."""
    steps = [(True, step) for step in sorted(chosen[0])] + [(False, step) for step in sorted(chosen[1])]
    for step in list(steps):
        fewer = [s for s in steps if s != step]
        smaller = (frozenset(x for r, x in fewer if r), frozenset(x for r, x in fewer if not r))
        if fewer and (again := frees(smaller)) is not None:
            steps, chosen, found = fewer, smaller, again
    return chosen, found


def _pieces(practices: Iterable[int], adjacency: Sequence[Sequence[int]]) -> list[set[int]]:
    """Return the connected pieces of ``practices``, in order of their smallest practice."""
    inside = set(practices)
    return list(components({i: [j for j in adjacency[i] if j in inside] for i in sorted(inside)}))


def _changes_of(
    inst: Instance,
    released: Iterable[tuple[int, int]],
    admitted: Iterable[tuple[int, int]],
    *,
    proven: bool,
) -> tuple[Change, ...]:
    """Return a change's releases and admissions (each ``(agreed group, practice)``), in planners' words."""
    hedge = "" if proven else " (the smallest change found; not proven smallest)"
    changes = []
    for k, i in sorted(released):
        who = f"{inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,})"
        changes.append(
            Change(
                "release", inst.locked_ids[k], inst.codes[i], f"{inst.locked_ids[k]} releases {who}{hedge}"
            )
        )
    for k, j in sorted(admitted):
        who = f"{inst.names[j]} ({inst.codes[j]}, {inst.sizes[j]:,})"
        changes.append(
            Change("admit", inst.locked_ids[k], inst.codes[j], f"{inst.locked_ids[k]} takes in {who}{hedge}")
        )
    return tuple(changes)


# --------------------------------------------------------------------------------------
# One CCG
# --------------------------------------------------------------------------------------


def _completion_ids(inst: Instance, labels: Sequence[int], agreed: set[int]) -> dict[str, str]:
    """Name the groups formed around the agreed ones ``<CCG>-new-01``, ... (open practices only)."""
    formed = {g: m for g, m in members_of(labels).items() if not set(m) & agreed}
    order = sorted(formed, key=lambda g: min(inst.codes[i] for i in formed[g]))
    ids = {g: f"{inst.ccg}-new-{k + 1:02d}" for k, g in enumerate(order)}
    return {inst.codes[i]: ids[g] for g in order for i in formed[g]}


def _details(
    inst: Instance, labels: Sequence[int], stranded: set[int], at_risk: set[int], result: dict
) -> dict[str, str]:
    groups = members_of(labels)
    base, least = result["baseline"], result["least"]
    if least > base:
        cause = (
            f"the agreed groups raise {inst.ccg}'s least number of new groups out of band from {base:.0f} "
            f"to {least:.0f}"
        )
    else:
        cause = f"even with no group agreed, {base:.0f} group(s) of {inst.ccg} must be out of band"
    details = {}
    for i in sorted(stranded | at_risk):
        size = sum(inst.sizes[j] for j in groups[labels[i]])
        who = f"{inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,})"
        if i in stranded:
            text = (
                f"{who} is stranded: every best completion leaves it in a group out of band "
                f"(in one, {size:,} patients); {cause}"
            )
            if result["changes"]:
                text += "; to free it: " + "; ".join(c.text for c in result["changes"])
        else:
            text = (
                f"{who} is at risk: some best completions leave it in a group out of band "
                f"(in one, {size:,} patients), others do not; {cause}"
            )
        details[inst.codes[i]] = text
    return details


def _completion_labels(inst: Instance, pieces: Sequence[_Piece]) -> list[int]:
    """Return a label per practice: agreed groups whole, the pieces' best completions, the rest alone."""
    labels = list(range(inst.n))
    for group in inst.locked:
        for i in group:
            labels[i] = group[0]
    for piece in pieces:
        for i, g in piece.group_of.items():
            labels[i] = g
    return labels


def strand_instance(
    inst: Instance,
    options: SolveOptions,
    *,
    baseline: StageResult | None = None,
    plain: Instance | None = None,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> CcgStranding:
    """Judge one CCG: the least numbers with and without the agreed groups, who is stranded or at risk.

    ``baseline`` is the CCG's stage-1 result with no group agreed, when already known;
    else it is solved on ``plain`` (the CCG with no group agreed; default ``inst`` unlocked).

    The agreed groups take no joiners, so a completion is a grouping of the open practices
    within the pieces they fall into between the agreed groups: each piece is judged on its
    own (most are a practice or a few) and the least numbers add up. With ``changes`` false
    the smallest change that frees the stranded practices is not sought (``changes`` of the
    result is empty). ``cancel`` abandons the computation (raising :class:`~footprint.errors.CancelledError`).
    """
    start = time.perf_counter()
    cancel = cancel or Cancel()
    if baseline is None:
        plain = plain or replace(inst, locked=[], approved=[], locked_ids=[])
        _, baseline, _ = least_out_of_band(plain, options)
    agreed = {i for group in inst.locked for i in group}
    members = _open_pieces(inst, agreed)
    if not members:
        zero = StageResult("out_of_band", 0.0, 0.0, "OPTIMAL", 0.0)
        return CcgStranding(inst.ccg, baseline, zero, seconds=time.perf_counter() - start)
    pieces = [_judge_piece(inst, piece, options, cancel) for piece in members]
    least = StageResult(
        "out_of_band",
        sum(p.least.value for p in pieces),
        sum(p.least.bound for p in pieces),
        "OPTIMAL" if all(p.least.proven for p in pieces) else "FEASIBLE",
        sum(p.least.seconds for p in pieces),
    )
    stranded = {i for p in pieces for i in p.stranded}
    at_risk = {i for p in pieces for i in p.at_risk}
    labels = _completion_labels(inst, pieces)
    found: tuple[Change, ...] = ()
    if stranded and changes:
        found = _freeing_changes(inst, labels, stranded, least, pieces, options, cancel)
    facts = {"baseline": baseline.value, "least": least.value, "changes": found}
    return CcgStranding(
        ccg_code=inst.ccg,
        baseline=baseline,
        least=least,
        stranded=tuple(sorted(inst.codes[i] for i in stranded)),
        at_risk=tuple(sorted(inst.codes[i] for i in at_risk)),
        completion=_completion_ids(inst, labels, agreed),
        changes=found,
        proven=all(p.proven for p in pieces),
        seconds=time.perf_counter() - start,
        details=_details(inst, labels, stranded, at_risk, facts),
    )


def _freeing_changes(
    inst: Instance,
    labels: Sequence[int],
    stranded: set[int],
    least: StageResult,
    pieces: Sequence[_Piece] | None,
    options: SolveOptions,
    cancel: Cancel | None,
) -> tuple[Change, ...]:
    """Return the smallest change that frees ``stranded``, or a commissioner's exception for each."""
    total = round(least.value) + _locked_breaks(inst)
    found = _smallest_change(inst, stranded, total, options, labels=labels, pieces=pieces, cancel=cancel)
    if found is not None:
        return found
    groups = members_of(labels)
    return tuple(
        Change(
            "exception",
            "",
            inst.codes[s],
            f"no agreed group can release or take in practices to free {inst.codes[s]}: only a "
            f"commissioner's exception would (approve its group of "
            f"{sum(inst.sizes[j] for j in groups[labels[s]]):,} patients)",
        )
        for s in sorted(stranded)
    )


def _job(
    item: tuple[Instance, StageResult | None, Instance],
    *,
    options: SolveOptions,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> CcgStranding:
    inst, baseline, plain = item
    return strand_instance(inst, options, baseline=baseline, plain=plain, changes=changes, cancel=cancel)


# --------------------------------------------------------------------------------------
# The public call
# --------------------------------------------------------------------------------------


def _with_proposal(
    graph: nx.Graph, proposal: Iterable[str], lock: Plan | None, allow_cross: Mapping[str, str]
) -> tuple[Plan, str]:
    """Return the lock with the proposal as one more agreed group, and the proposal's CCG."""
    codes = sorted({c.strip().upper() for c in proposal if c.strip()})
    if not codes:
        msg = "the proposal names no practice: give the practice codes of the proposed PCN"
        raise DataError(msg)
    unknown = [c for c in codes if c not in graph]
    if unknown:
        msg = f"the proposal names practice(s) not in the practices file: {', '.join(unknown[:10])}"
        raise DataError(msg)
    home = {c: allow_cross.get(c, graph.nodes[c]["ccg_code"]) for c in codes}
    ccgs = sorted(set(home.values()))
    if len(ccgs) > 1:
        where = ", ".join(f"{c} ({home[c]})" for c in codes)
        msg = f"the proposed PCN spans CCGs {', '.join(ccgs)}: {where}; a PCN may not cross its CCG"
        raise PlanError(msg)
    assignment = dict(lock.assignment) if lock is not None else {}
    taken = set(assignment.values())
    pcn = PROPOSAL_ID if PROPOSAL_ID not in taken else "proposed PCN"
    assignment.update(dict.fromkeys(codes, pcn))
    return Plan(assignment), ccgs[0]


def judged_instances(graph: nx.Graph, rules: Rules, inputs: PlanInputs) -> list[tuple[Instance, Instance]]:
    """Return per CCG the instance :func:`strands` judges (agreed groups locked) and the CCG with none agreed.

    Raises
    ------
    PlanError
        If a lock cannot be honoured (names the group and why).
    """
    pairs = []
    for inst in instances_from_graph(graph, rules, inputs):
        plain = replace(inst, locked=[], approved=[], locked_ids=[])
        # An agreed group may hold a practice over the band: the agreement governs, not the rule.
        agreed = {i for group in inst.locked for i in group}
        judged = replace(inst, big=[big and i not in agreed for i, big in enumerate(inst.big)])
        check_locks(judged)
        pairs.append((judged, plain))
    return pairs


def strands(  # noqa: PLR0913 - the public keyword-only options, as solve_plan's
    graph: nx.Graph,
    *,
    lock: Plan | None = None,
    proposal: Iterable[str] | None = None,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    rural: Iterable[str] = (),
    allow_cross: Mapping[str, str] | None = None,
    ccgs: Sequence[str] | None = None,
    approved: Iterable[str] = (),
    baselines: Mapping[str, StageResult] | None = None,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> Stranding:
    """Return who the agreed groups strand: per CCG, the least numbers, stranded and at-risk practices.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`.
    lock
        Agreed groups (every practice with a PCN id keeps exactly that group, closed to
        joiners); the practices of the CCGs judged that it leaves without a group are open.
    proposal
        Codes of practices proposed as one PCN: "if these form a PCN and every other
        practice of the CCG is open (or as in ``lock``), who is stranded?" Only the
        proposal's CCG is judged.
    rules, options, rural, allow_cross, approved
        As for :func:`footprint.partition.solve_plan`.
    ccgs
        Only judge these CCGs (default: every CCG in the graph).
    baselines
        Each CCG's stage-1 result with no group agreed, when already known (e.g. from an
        earlier call's ``ccgs[code].baseline``): saves a solve per CCG.
    changes
        Whether to seek the smallest change of the agreed groups that frees the stranded
        practices (:attr:`CcgStranding.changes`); without it the verdict comes sooner.
    cancel
        Abandons the computation when set from another thread (then :class:`~footprint.errors.CancelledError`
        is raised); honoured when the CCGs are judged in this process (``processes=1`` or
        one CCG).

    Returns
    -------
    Stranding
        Per CCG a :class:`CcgStranding`; ``completion`` gives one best completion.

    Raises
    ------
    DataError
        If the proposal is empty or names unknown practices.
    PlanError
        If the proposal spans CCGs, or a lock cannot be honoured (names the group and why).
    CancelledError
        If ``cancel`` was set.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> graph = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> proposal = ["P81058", "P81125", "P81683", "P81694"]  # four neighbours of Blackburn, 32,523
    >>> report = strands(graph, proposal=proposal, options=SolveOptions(processes=1))
    >>> report.ccgs["00Q"].stranded
    ()
    """
    rules = rules or Rules()
    options = options or SolveOptions()
    allow_cross = dict(allow_cross or {})
    if proposal is not None:
        lock, ccg = _with_proposal(graph, proposal, lock, allow_cross)
        ccgs = [ccg]
    lock = lock or Plan({})
    inputs = PlanInputs(
        rural=frozenset(rural), lock=lock, allow_cross=allow_cross, ccgs=ccgs, approved=frozenset(approved)
    )
    items = [
        (inst, (baselines or {}).get(inst.ccg), plain)
        for inst, plain in judged_instances(graph, rules, inputs)
    ]
    items.sort(key=lambda item: -item[0].n)
    if options.processes == 1 or len(items) == 1:
        job = partial(_job, options=options, changes=changes, cancel=cancel)
        results = [job(item) for item in items]
    else:
        job = partial(_job, options=options, changes=changes)
        results = list(imap_unordered(job, items, processes=options.processes))
    return Stranding({r.ccg_code: r for r in sorted(results, key=lambda r: r.ccg_code)}, lock)
