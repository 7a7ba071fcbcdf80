"""The smallest change of the agreed groups that frees the stranded practices, and candidate changes.

Agreed groups may release members and take in open practices, each step counting one;
the stranded practices must end in no group out of band, no more groups may break the
band than now, and an agreed group that keeps the band rule (a proposal in band) keeps it
(:func:`_smallest_change`). The change's model holds only the agreed groups
next to the stranded practices' pieces and the open pieces they touch. CP-SAT searches it
alone at first, then from the first of a few candidate changes (fewest steps first) that
frees them in a warm start (:func:`_candidates`, :func:`_candidate_change`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from ortools.sat.python import cp_model

from footprint.config import BREAKS, SolveOptions
from footprint.partition._instance import Instance, members_of
from footprint.partition._strand_model import (
    _STAGE1,
    Cancel,
    _add_bad,
    _locked_breaks,
    _Piece,
    _pieces,
)
from footprint.partition.model import PartitionModel, add_hints, build_model
from footprint.partition.solve import solver_from_options
from footprint.partition.warmstart import warm_start

__all__ = ["CHANGE_CANDIDATES", "Change"]

#: Deterministic seconds allowed to find the smallest change that frees stranded practices.
CHANGE_LIMIT_S = 2.0
#: Of those, the seconds CP-SAT searches unaided before the candidate changes are tried.
CHANGE_QUICK_S = 0.25
#: At most this many candidate changes (fewest steps first) are tried for a hint.
CHANGE_CANDIDATES = 60


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
    in no group out of band, no more groups may break the band than now (``total``), and an
    agreed group that keeps the band rule keeps it (what is left of it, with what it takes in).

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
            breaks = self.pm.inst.status(members) in BREAKS
            for i in members:
                model.add_hint(self.bad[i], breaks)

    def hint_solution(self, solver: cp_model.CpSolver) -> None:
        """Hint every variable with its value in the solver's solution."""
        model = self.pm.model
        model.clear_hints()
        for index in range(len(model.proto.variables)):
            var = model.get_int_var_from_proto_index(index)
            model.add_hint(var, solver.value(var))


def _stays_valid(inst: Instance, k: int) -> bool:
    """Return whether agreed group ``k`` must keep the band rule through a change (it keeps it now).

    An approved group out of band is left out: unlocked, it is no longer approved.
    """
    approved = k < len(inst.approved) and inst.approved[k]
    return not approved and inst.status(inst.locked[k]) not in BREAKS


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
        if _stays_valid(inst, k):
            for i in group:
                # An agreed group that keeps the band rule keeps it after the change.
                model.add(cm.bad[i] == 0).only_enforce_if(cm.release[k, i].Not())
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
        if any(_stays_valid(inst, k) and inst.status(groups[k]) in BREAKS for k in groups):
            return None  # an agreed group that kept the band rule would break it
        # The changed groups are locked after the others: a changed group is never approved.
        variant = replace(loose, locked=[*loose.locked, *groups.values()])
        labels = warm_start(variant, seed=seed, target=float(total))
        if inst.rules.keep_sites and any(len({labels[i] for i in site}) > 1 for site in inst.sites):
            return None  # a building split where the rules keep them whole
        statuses = {g: variant.status(members) for g, members in members_of(labels).items()}
        breaking = sum(status in BREAKS for status in statuses.values())
        if breaking > total or any(statuses[labels[s]] in BREAKS for s in stranded):
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
