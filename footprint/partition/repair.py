"""Repair an existing plan: no error left, moving the fewest practices, then the fewest patients.

The same CP-SAT model as a plan, started from the existing groups, with two more stages:
``below`` (groups below the floor that are not exempt: the band rule's errors) and
``moved_patients``. The stages, in order:

- ``below`` (default) or ``out_of_band`` (with ``split_large``: groups above the ceiling
  are brought into band too, where that is possible);
- ``moves``: practices not left in the group matched to their existing group (the
  transfer distance; open practices are placed and counted apart);
- ``moved_patients``: the patients of the practices moved;
- then the plan's own stages as tie-breakers.

Every group is connected and inside its CCG (hard rules, as in a plan), so existing
groups that cross a CCG line are split (unless allow-cross lets their practices join).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial

import networkx as nx
import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from footprint._pool import imap_unordered
from footprint.config import Rules, SolveOptions
from footprint.errors import PlanError
from footprint.partition._instance import (
    Instance,
    PlanInputs,
    instances_from_graph,
    match_current,
    members_of,
)
from footprint.partition.model import Builder, PartitionModel, build_model
from footprint.partition.pairs import pair_builders
from footprint.partition.solve import CcgResult, ccg_result, check_params, run_stages
from footprint.partition.stages import STAGE_REGISTRY, Grouping, Stage, StageResult
from footprint.partition.warmstart import current_repaired, warm_start
from footprint.plan import Plan, keep_ids, moved_practices, transfer_distance

__all__ = ["REPAIR_STAGES", "repair_moves", "repair_plan", "repair_stages"]

_BREAKS = ("below", "above")
#: Deterministic seconds per CCG for repair's first two stages, the errors and the moves
#: (at most the proof limit); the moves are rarely proven minimal (the gap is reported).
REPAIR_LIMIT_S = 0.5


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


def _start(inst: Instance) -> list[int]:
    """Return the existing groups as a grouping the model accepts: each group's connected pieces.

    Practices over the band stand alone, locked groups are kept, open practices start alone.
    """
    assert inst.current is not None
    key: list[tuple[str, int]] = []
    locked_of = {i: k for k, group in enumerate(inst.locked) for i in group}
    for i in range(inst.n):
        if i in locked_of:
            key.append(("lock", locked_of[i]))
        elif inst.big[i] or inst.current[i] < 0:
            key.append(("alone", i))
        else:
            key.append(("group", inst.current[i]))
    pieces = nx.Graph()
    pieces.add_nodes_from(range(inst.n))
    pieces.add_edges_from((i, j) for i, j in inst.edges if key[i] == key[j])
    labels = [0] * inst.n
    for component in nx.connected_components(pieces):
        root = min(component)
        for i in component:
            labels[i] = root
    fixed = {labels[i] for i in range(inst.n) if key[i][0] == "lock" or inst.big[i]}
    return _merge_small(inst, labels, fixed)


def _merge_small(inst: Instance, labels: list[int], fixed: set[int]) -> list[int]:
    """Merge each group below the floor whole into a neighbouring group, fewest practices first.

    A greedy start for the solver: merges that end in band come first, then those above
    the ceiling (a warning, not an error); ties go to the smallest group moved, then the
    least deviation.
    """
    labels = list(labels)
    adjacency = inst.neighbours()
    for _ in range(inst.n):
        groups = members_of(labels)
        small = sorted((len(m), g) for g, m in groups.items() if g not in fixed and inst.status(m) == "below")
        best = None
        for _, g in small:
            members = groups[g]
            for h in {labels[j] for i in members for j in adjacency[i]} - {g} - fixed:
                merged = members + groups[h]
                # Above the ceiling is no error (a warning): prefer merges that end in band.
                status = inst.status(merged)
                cost = (status == "below", status == "above", len(members), inst.deviation(merged))
                if best is None or cost < best[0]:
                    best = (cost, g, h)
        if best is None:
            break
        _, g, h = best
        labels = [h if label == g else label for label in labels]
    return labels


def _keep_big_partners(inst: Instance) -> Instance:
    """Let a practice over the band stay in its existing group with others (that is no error)."""
    assert inst.current is not None
    shared = {c for c in inst.current if c >= 0 and sum(x == c for x in inst.current) > 1}
    return replace(inst, big=[big and inst.current[i] not in shared for i, big in enumerate(inst.big)])


def _best_start(inst: Instance, stages: Sequence[str], *, seed: int) -> list[int]:
    """Return the best start for the first two stages (the errors, then the moves).

    The greedy merge of the existing groups; where it misses the first stage's bound, the
    best of it, the existing groups recombined and the plan's warm start.
    """
    first = REPAIR_STAGES[stages[0]]
    bound = first.lower_bound(inst, {}) or 0.0

    def cost(labels: list[int]) -> tuple[float, float]:
        grouping = Grouping(inst, labels)
        return first.evaluate(grouping), REPAIR_STAGES["moves"].evaluate(grouping)

    best = _start(inst)
    if cost(best)[0] <= bound:
        return best
    recombined = current_repaired(inst, seed=seed)
    starts = [best, warm_start(inst, seed=seed), *([recombined] if recombined is not None else [])]
    return min(starts, key=cost)


def repair_instance(
    inst: Instance, options: SolveOptions, *, stages: Sequence[str], extra: Iterable[Builder] = ()
) -> tuple[dict[str, str], CcgResult]:
    """Repair one CCG stage by stage from its existing groups; return code to PCN id, and the result."""
    start = time.perf_counter()
    pm = build_model(inst, stages=stages, keep_sites=inst.rules.keep_sites, extra=extra)
    add_below(pm)
    limited = replace(options, proof_limit_s=min(options.proof_limit_s, REPAIR_LIMIT_S))
    labels, results = run_stages(
        pm,
        _best_start(inst, stages, seed=options.seed),
        stages,
        limited,
        registry=REPAIR_STAGES,
        proof_stages=2,
    )
    return ccg_result(inst, labels, results, start=start)


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
    """Return ``plan`` repaired: no error left, moving the fewest practices, then the fewest patients.

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
        Groups that continue an existing group keep its id; ``plan.info["ccgs"]`` maps CCG
        code to :class:`~footprint.partition.CcgResult` (stages ``below`` or ``out_of_band``,
        ``moves``, ``moved_patients``, then the plan's); ``plan.info["repair"]`` gives per
        CCG the moves, their bound, whether proven and the open practices placed;
        ``plan.info["moved"]`` the moves over all England (the transfer distance).

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
    >>> fixed.info["repair"]["00Q"]["moves"]  # two practices cut off from their PCNs move
    2
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
    extra = pair_builders(graph, instances, apart=apart, together=together, allow_cross=allow_cross)
    instances.sort(key=lambda inst: -inst.n)
    job = partial(repair_instance, options=options, stages=stages, extra=extra)
    if options.processes == 1 or len(instances) == 1:
        solved = [job(inst) for inst in instances]
    else:
        solved = list(imap_unordered(job, instances, processes=options.processes))
    assignment: dict[str, str | None] = {}
    info: dict[str, CcgResult] = {}
    for groups, result in solved:
        assignment.update(groups)
        info[result.ccg_code] = result
    opened = {inst.ccg: sum(c < 0 for c in inst.current or []) for inst in instances}
    repaired = keep_ids(Plan(assignment, {"ccgs": dict(sorted(info.items()))}), plan)
    report = {}
    for ccg, result in sorted(info.items()):
        moves = next(s for s in result.stages if s.name == "moves")
        patients = next(s for s in result.stages if s.name == "moved_patients")
        report[ccg] = {
            "moves": round(moves.value),
            "bound": round(moves.bound),
            "gap": round(moves.value - moves.bound),
            "proven": moves.proven,
            "moved_patients": round(patients.value),
            "errors_left": round(result.stages[0].value),
            "open_placed": opened[ccg],
        }
    before = plan.restrict(repaired.assignment)
    moved = transfer_distance(before, repaired)
    return Plan(repaired.assignment, {**repaired.info, "repair": report, "moved": moved})


def _status_of(graph: nx.Graph, plan: Plan, rules: Rules) -> dict[str, tuple[str, int, bool]]:
    """Return each group's band status, list size and whether it lies in one CCG and is connected."""
    out: dict[str, tuple[str, int, bool]] = {}
    for pcn, members in plan.groups.items():
        inside = [m for m in members if m in graph]
        total = int(sum(graph.nodes[m]["list_size"] for m in inside))
        status = rules.group_status(total, practices=len(inside), rural=False)
        one_ccg = len({graph.nodes[m]["ccg_code"] for m in inside}) <= 1
        whole = bool(inside) and nx.is_connected(graph.subgraph(inside))
        out[pcn] = (status, total, one_ccg and whole)
    return out


def repair_moves(before: Plan, after: Plan, graph: nx.Graph, *, rules: Rules | None = None) -> pd.DataFrame:
    """Return the practices a repair moves or places: practice, name, from, to, patients, reason.

    A practice moves when its group in ``after`` does not continue its group in ``before``
    (the transfer distance); an open practice of ``before`` given a group is placed
    (``from`` blank). ``reason`` says why, in planners' words.
    """
    rules = rules or Rules()
    was, now = _status_of(graph, before, rules), _status_of(graph, after, rules)
    low, high = rules.band.low, rules.band.high
    rows = []
    for code, (old, new) in sorted(moved_practices(before, after).items()):
        status, total, fine = was.get(old, ("in_band", 0, True))
        if not fine:
            reason = f"{old} crossed a CCG line or was not connected"
        elif status == "below":
            reason = f"{old} had {total:,} patients, below the floor of {low:,}"
        elif status == "above":
            reason = f"{old} had {total:,} patients, above the ceiling of {high:,}"
        else:
            reason = f"{new} needed it to reach the band ({now.get(new, ('', 0, True))[1]:,} patients now)"
        rows.append((code, old, new, reason))
    for code in before.open_practices:
        placed = after.assignment.get(code)
        if placed is not None:
            rows.append((code, "", placed, f"open practice placed in {placed}"))
    frame = pd.DataFrame(rows, columns=["practice_code", "from", "to", "reason"])
    names = {c: str(graph.nodes[c].get("practice_name", "")) for c in frame["practice_code"] if c in graph}
    frame.insert(1, "name", frame["practice_code"].map(names))
    sizes = np.array([int(graph.nodes[c]["list_size"]) for c in frame["practice_code"]], dtype=int)
    frame.insert(4, "patients", sizes)
    return frame.sort_values(["from", "practice_code"]).reset_index(drop=True)
