"""Stranding judged on the open practices alone, piece by piece, against the whole CCG's model.

The agreed groups are locked and closed to joiners, so a completion is a grouping of the
open practices within the connected pieces they form: ``strand_instance`` judges each
piece on its own. These tests hold it to the verdict of the whole CCG's model (what
``strand_instance`` computed before issue 16), on a hand-drawn grid and on the real slice.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
from ortools.sat.python import cp_model

from footprint.config import Rules, SolveOptions
from footprint.edit import agreed_pieces
from footprint.errors import CancelledError, DataError
from footprint.load import read_boundaries, read_practices, select_ccgs
from footprint.partition import _strand_change as strand  # the smallest change's search, patched below
from footprint.partition import judge_proposal, solve_plan, strands
from footprint.partition._instance import Instance, PlanInputs
from footprint.partition._strand_change import (
    CHANGE_CANDIDATES,
    _around,
    _candidate_change,
    _candidates,
    _Question,
    _smallest_change,
)
from footprint.partition._strand_model import _classify, _locked_breaks, _open_pieces
from footprint.partition.stages import StageResult
from footprint.partition.strand import Cancel, Change, judged_instances, least_out_of_band, strand_instance
from footprint.plan import Plan, plan_from_practices
from tests.conftest import grid_rows, write_boxes, write_practices
from tests.test_partition import line

#: Tests solve with one worker, a fixed seed and tiny instances solved to optimality.
OPTIONS = SolveOptions(workers=1, processes=1, seed=0, time_limit_s=5)
#: A baseline the comparisons do not look at (it is solved as before, on the whole CCG).
NO_BASELINE = StageResult("out_of_band", 0.0, 0.0, "OPTIMAL", 0.0)

#: The grid: three agreed groups (bracketed) leave three pieces of open practices.
GRID = [
    [12_000, 13_000, 12_000, 20_000, 20_000],
    [15_000, 20_000, 12_000, 12_000, 20_000],
    [10_000, 60_000, 12_000, 12_000, 12_000],
]
GRID_LOCK = Plan(
    dict.fromkeys(["A3", "B3", "C3"], "wall")
    | dict.fromkeys(["B1", "B2"], "left")
    | dict.fromkeys(["B4", "C4", "C5"], "right")
)
RURAL = ("A1", "A2")


@pytest.fixture(scope="module")
def grid_graph(tmp_path_factory):
    """Fifteen practices 1 km apart in one CCG ``GRD``; three groups agreed (the lock).

    ::

        A1 r12k  A2 r13k [A3 12k] A4 20k   A5 20k         r: rural
        [B1 15k  B2 20k] [B3 12k] [B4 12k] B5 20k         [..]: agreed groups
        C1 10k   C2 60k  [C3 12k] [C4 12k  C5 12k]        wall = A3 B3 C3, left = B1 B2,
                                                          right = B4 C4 C5

    The open practices fall into pieces: {A1, A2} (rural, 25k together: exempt), {C1}
    (its only open neighbour C2 is over the band and stands alone: C1 is stranded; the
    left group taking it in frees it) and {A4, A5, B5} (20k each: whichever two pair up,
    the third is left below, and all three are 60k: each is at risk).
    """
    from footprint.graph import graph_from_practices

    path = tmp_path_factory.mktemp("grid")
    practices = read_practices(write_practices(path / "grid.csv", grid_rows(GRID)))
    boundaries = read_boundaries(write_boxes(path / "grid.gpkg", {"GRD": (0, 0, 5, 3)}))
    return graph_from_practices(practices, boundaries, cache_dir=path / "cache")


def judged(graph, lock: Plan, ccg: str, *, rural=()) -> Instance:
    """Return the instance ``strands`` judges for one CCG."""
    inputs = PlanInputs(rural=frozenset(rural), lock=lock, ccgs=[ccg])
    ((inst, _),) = judged_instances(graph, Rules(), inputs)
    return inst


def whole_ccg_verdict(inst: Instance) -> tuple:
    """Return the verdict of the whole CCG's model: least, stranded, at risk, proven, changes.

    As ``strand_instance`` judged before issue 16: every practice of the CCG in one model,
    the agreed groups locked, their own breaks taken off stage 1.
    """
    agreed = {i for group in inst.locked for i in group}
    free = [i for i in range(inst.n) if i not in agreed]
    if not [i for i in free if not inst.big[i]]:
        return 0.0, (), (), True, ()
    labels, stage1, pm = least_out_of_band(inst, OPTIONS)
    least = stage1.value - _locked_breaks(inst)
    stranded: set[int] = set()
    at_risk: set[int] = set()
    proven = stage1.proven
    if least > 0:
        labels, stranded, at_risk, classified = _classify(pm, labels, free, OPTIONS)
        proven = proven and classified
    changes: tuple[Change, ...] | None = ()
    if stranded:
        changes = _smallest_change(inst, stranded, round(stage1.value), OPTIONS, labels=labels)
    codes = [inst.codes[i] for i in range(inst.n)]
    return (
        least,
        tuple(sorted(codes[i] for i in stranded)),
        tuple(sorted(codes[i] for i in at_risk)),
        proven,
        changes,
    )


def assert_same_verdict(inst: Instance) -> None:
    """The open practices judged piece by piece give the whole CCG's verdict."""
    least, stranded, at_risk, proven, changes = whole_ccg_verdict(inst)
    result = strand_instance(inst, OPTIONS, baseline=NO_BASELINE)
    assert (result.least.value, result.stranded, result.at_risk) == (least, stranded, at_risk), inst.ccg
    assert result.proven == proven and result.least.proven
    # The smallest change: as many steps either way (which of several equal changes may differ).
    if changes is None:
        assert all(c.kind == "exception" for c in result.changes)
    else:
        assert len(result.changes) == len(changes)
        assert {c.kind == "exception" for c in result.changes} == {c.kind == "exception" for c in changes}
    # The completion keeps every agreed group and groups every open practice.
    agreed = {inst.codes[i] for group in inst.locked for i in group}
    assert set(result.completion) == set(inst.codes) - agreed


# --------------------------------------------------------------------------------------
# The instance of the open practices
# --------------------------------------------------------------------------------------


def test_restrict_keeps_every_field_consistent(grid_graph):
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    agreed = {i for group in inst.locked for i in group}
    keep = [i for i in range(inst.n) if i not in agreed]
    part = inst.restrict(keep)
    assert part.codes == ["A1", "A2", "A4", "A5", "B5", "C1", "C2"]
    assert part.sizes == [inst.sizes[i] for i in keep] and part.names == [inst.names[i] for i in keep]
    assert part.xy == [inst.xy[i] for i in keep]
    pairs = {frozenset((part.codes[i], part.codes[j])) for i, j in part.edges}
    assert pairs == {frozenset(p) for p in (("A1", "A2"), ("A4", "A5"), ("A5", "B5"), ("C1", "C2"))}
    assert all(i < j for i, j in part.edges)
    assert part.big == [False] * 6 + [True] and part.rural == [True, True] + [False] * 5
    assert part.locked == [] and part.approved == [] and part.locked_ids == []
    assert part.rules is inst.rules and part.current is None and part.ccg == "GRD"
    # Locked groups come whole, with their ids; a cut one is refused.
    wall = inst.locked[inst.locked_ids.index("wall")]
    with_wall = inst.restrict([*keep, *wall])
    assert with_wall.locked_ids == ["wall"] and [with_wall.codes[i] for i in with_wall.locked[0]] == [
        "A3",
        "B3",
        "C3",
    ]
    with pytest.raises(ValueError, match="cut locked group wall of GRD; keep it whole or not at all"):
        inst.restrict([*keep, wall[0]])
    with pytest.raises(ValueError, match=r"indices must lie in 0\.\.14"):
        inst.restrict([15])


def test_open_pieces_leave_out_agreed_and_big_practices(grid_graph):
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    agreed = {i for group in inst.locked for i in group}
    pieces = [[inst.codes[i] for i in piece] for piece in _open_pieces(inst, agreed)]
    assert sorted(pieces) == [["A1", "A2"], ["A4", "A5", "B5"], ["C1"]]


# --------------------------------------------------------------------------------------
# The same verdict as the whole CCG's model
# --------------------------------------------------------------------------------------


def test_grid_verdict_piece_by_piece(grid_graph):
    """Three pieces: a rural pair exempt, C1 stranded beside a big practice, a piece at risk."""
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    result = strand_instance(inst, OPTIONS)
    assert result.least.value == 2 and result.least.proven and result.proven
    assert result.stranded == ("C1",) and result.at_risk == ("A4", "A5", "B5")
    assert [(c.kind, c.group, c.practice) for c in result.changes] == [("admit", "left", "C1")]
    completion = Plan(dict(GRID_LOCK.assignment) | dict(result.completion))
    assert {"A1", "A2"} in [set(g) for g in completion.groups.values()]  # together, exempt as rural
    assert {"C2"} in [set(g) for g in completion.groups.values()]  # the big practice alone
    assert "C1" in result.details and "stranded" in result.details["C1"]
    assert_same_verdict(inst)


def test_grid_verdict_without_the_rural_waiver(grid_graph):
    """Not rural, A1 and A2 (25k together) are stranded too: every grouping leaves them below."""
    inst = judged(grid_graph, GRID_LOCK, "GRD")
    result = strand_instance(inst, OPTIONS)
    assert result.least.value == 3
    assert result.stranded == ("A1", "A2", "C1") and result.at_risk == ("A4", "A5", "B5")
    assert_same_verdict(inst)


def test_grid_with_an_approved_group_and_agreed_breaks(grid_graph):
    """An agreed group out of band counts apart (approved or not); the open pieces are unchanged."""
    lock = Plan(dict(GRID_LOCK.assignment) | {"A4": "top", "A5": "top", "B5": "top"})  # 60k, above
    for approved in ((), ("top",)):
        inputs = PlanInputs(rural=frozenset(RURAL), lock=lock, ccgs=["GRD"], approved=frozenset(approved))
        ((inst, _),) = judged_instances(grid_graph, Rules(), inputs)
        assert _locked_breaks(inst) == (0 if approved else 1)
        result = strand_instance(inst, OPTIONS, baseline=NO_BASELINE)
        assert (result.least.value, result.stranded, result.at_risk) == (1, ("C1",), ())
        assert_same_verdict(inst)


def _slice_scenarios(slice_practices) -> list[tuple[str, str]]:
    """Each CCG of the slice with its current PCNs agreed, then with each PCN in turn opened."""
    scenarios = []
    for ccg, codes in sorted(slice_practices.groupby("ccg_code").groups.items()):
        scenarios.append((ccg, ""))
        pcns = sorted(set(slice_practices.loc[codes, "pcn_code"].dropna()) - {"U"})
        scenarios += [(ccg, pcn) for pcn in pcns]
    return scenarios


SLICE_SCENARIOS = [
    ("01F", ""), ("01F", "U09643"), ("01F", "U79408"),
    ("99F", ""), ("99F", "U27924"), ("99F", "U30335"), ("99F", "U49929"), ("99F", "U84454"),
    ("99G", ""), ("99G", "U02453"), ("99G", "U04443"), ("99G", "U04545"), ("99G", "U17794"),
]  # fmt: skip


def test_slice_scenarios_are_every_pcn(slice_practices):
    assert _slice_scenarios(slice_practices) == SLICE_SCENARIOS


@pytest.mark.parametrize(("ccg", "opened"), SLICE_SCENARIOS)
def test_slice_verdict_matches_the_whole_ccg(slice_practices, slice_graph, ccg, opened):
    """The current PCNs agreed (in pieces where broken), one PCN opened: the same verdict either way."""
    practices = select_ccgs(slice_practices, [ccg])
    graph = slice_graph.subgraph(practices.index).copy()
    plan = plan_from_practices(practices)
    plan = Plan({c: None if p == opened else p for c, p in plan.assignment.items()})
    inst = judged(graph, agreed_pieces(plan, graph), ccg)
    assert_same_verdict(inst)


def test_slice_solved_plan_with_practices_opened(slice_practices, slice_graph):
    """99G planned afresh, then practices opened here and there (two pieces or more)."""
    practices = select_ccgs(slice_practices, ["99G"])
    graph = slice_graph.subgraph(practices.index).copy()
    plan = solve_plan(graph, rules=Rules(stages=("out_of_band",)), options=OPTIONS)
    codes = sorted(graph.nodes)
    for opened in (codes[::7], codes[1::4], codes[:6]):
        trial = Plan({c: None if c in opened else p for c, p in plan.assignment.items()})
        inst = judged(graph, agreed_pieces(trial, graph), "99G")
        assert len(_open_pieces(inst, {i for g in inst.locked for i in g})) >= 2 or opened == codes[:6]
        assert_same_verdict(inst)


def test_strands_on_the_slice_says_what_it_said(slice_practices, slice_graph):
    """Southend's current PCNs agreed: the Rahman Practice is stranded in 99F (issue 10), as before."""
    current = plan_from_practices(slice_practices).restrict(slice_graph.nodes)
    report = strands(slice_graph, lock=current, options=OPTIONS)
    assert report.stranded == ["F81700"] and report.ccgs["99F"].rise == 1
    without = strands(slice_graph, lock=current, options=OPTIONS, changes=False)
    assert without.stranded == report.stranded and without.ccgs["99F"].changes == ()
    assert report.ccgs["99F"].changes


# --------------------------------------------------------------------------------------
# The smallest change: candidate changes for CP-SAT's hint
# --------------------------------------------------------------------------------------


def c1_change(inst: Instance) -> tuple[int, int, set[int], Instance]:
    """Return C1, the left group, the agreed groups near C1 (left, and wall beyond the big C2) and
    the instance with those unlocked."""
    c1, left, wall = inst.codes.index("C1"), inst.locked_ids.index("left"), inst.locked_ids.index("wall")
    near, admissible = _around(inst, {c1}, {i for group in inst.locked for i in group})
    assert (near, admissible) == ({left, wall}, {c1})
    loose = replace(
        inst,
        locked=[g for k, g in enumerate(inst.locked) if k not in near],
        approved=[],
        locked_ids=[p for k, p in enumerate(inst.locked_ids) if k not in near],
    )
    return c1, left, near, loose


def test_candidate_changes_come_fewest_steps_first(grid_graph):
    """Left, next to C1: take in C1 or release B1, then both; last every wall (B1) released."""
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    c1, left, near, _ = c1_change(inst)
    b1 = inst.codes.index("B1")
    found = _candidates(inst, near, {c1})
    assert found == [
        (frozenset(), frozenset({(left, c1)})),
        (frozenset({(left, b1)}), frozenset()),
        (frozenset({(left, b1)}), frozenset({(left, c1)})),
        (frozenset({(left, b1)}), frozenset()),
    ]
    assert len(found) <= CHANGE_CANDIDATES + 1


def test_a_candidate_change_frees_the_stranded_practice(grid_graph):
    """Left taking in C1 (45k) frees it; releasing B1 does not (C1 and B1 make 25k, below)."""
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    c1, left, near, loose = c1_change(inst)
    total = 2 + _locked_breaks(inst)  # the least number with the lock
    found = _candidate_change(loose, _Question(inst, {c1}, near, {c1}, total), seed=0)
    assert found is not None
    taken, labels, groups = found
    assert taken == (frozenset(), frozenset({(left, c1)}))
    assert sorted(inst.codes[i] for i in groups[left]) == ["B1", "B2", "C1"]
    assert labels[c1] == labels[inst.codes.index("B1")]
    # With fewer groups out of band allowed than the open practices need, no candidate frees C1.
    assert _candidate_change(loose, _Question(inst, {c1}, near, {c1}, total - 2), seed=0) is None


@pytest.mark.parametrize(("keep_sites", "released"), [(False, ["W1"]), (True, ["W1", "W2"])])
def test_a_candidate_change_keeps_buildings_whole_where_the_rules_do(keep_sites, released):
    """S (10k) touches only W1 of the agreed group G (W1 20k, W2 5k in W1's building, G3 30k: 55k, above).

    Taking S in puts G further above; G releasing W1 frees S (30k together) and brings G into
    band (35k). Where buildings are kept whole, W2 must go with W1: two releases (G 30k).
    """
    inst = Instance(
        ccg="GRD",
        codes=["S", "W1", "W2", "G3"],
        names=["S", "W1", "W2", "G3"],
        sizes=[10_000, 20_000, 5_000, 30_000],
        xy=[(0.0, 0.0), (1000.0, 0.0), (1000.0, 0.0), (2000.0, 0.0)],
        edges=[(0, 1), (1, 2), (1, 3), (2, 3)],
        bridges={},
        sites=[[1, 2]],
        big=[False] * 4,
        rural=[False] * 4,
        locked=[[1, 2, 3]],
        current=None,
        rules=Rules(keep_sites=keep_sites),
        approved=[False],
        locked_ids=["G"],
    )
    loose = replace(inst, locked=[], approved=[], locked_ids=[])
    found = _candidate_change(loose, _Question(inst, {0}, {0}, {0}, 1), seed=0)
    assert found is not None
    (release, admit), labels, _ = found
    assert sorted(inst.codes[i] for _, i in release) == released and not admit
    assert labels[0] == labels[1] != labels[3]


def test_a_candidate_change_never_breaks_an_agreed_group_that_keeps_the_band():
    """G (W1 20k, G2 25k: 45k, in band) next to S (10k): releasing W1 would free S (30k together)
    but leave G at 25k, below the floor, and taking S in puts G above the band (55k).

    No candidate frees S within the rules; the smallest change keeps G in band: it releases
    G2 and takes S in (W1 and S, 30k), two steps where one broke G.
    """
    inst = Instance(
        ccg="GRD",
        codes=["S", "W1", "G2"],
        names=["S", "W1", "G2"],
        sizes=[10_000, 20_000, 25_000],
        xy=[(0.0, 0.0), (1000.0, 0.0), (2000.0, 0.0)],
        edges=[(0, 1), (1, 2)],
        bridges={},
        sites=[],
        big=[False] * 3,
        rural=[False] * 3,
        locked=[[1, 2]],
        current=None,
        rules=Rules(),
        approved=[False],
        locked_ids=["G"],
    )
    loose = replace(inst, locked=[], approved=[], locked_ids=[])
    assert _candidate_change(loose, _Question(inst, {0}, {0}, {0}, 1), seed=0) is None
    freeing = _smallest_change(inst, {0}, 1, OPTIONS)
    assert freeing is not None
    assert [(c.kind, c.practice) for c in freeing] == [("release", "G2"), ("admit", "S")]


def test_candidates_hand_cp_sat_a_change_it_did_not_find(grid_graph, monkeypatch):
    """Where CP-SAT's quick search finds no change, the first candidate that frees C1 is the answer:
    one step, so proven smallest without a further search."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(_candidate_change(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(strand, "CHANGE_QUICK_S", 1e-9)
    monkeypatch.setattr(strand, "_candidate_change", spy)
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    result = strand_instance(inst, OPTIONS)
    assert len(calls) == 1 and calls[0] is not None
    assert [(c.kind, c.group, c.practice) for c in result.changes] == [("admit", "left", "C1")]
    assert "not proven" not in result.changes[0].text


def test_a_one_step_change_is_proven_smallest_even_where_cp_sat_did_not_prove_it(grid_graph, monkeypatch):
    """No change frees nothing, so a change of one step is the smallest, proven or not by CP-SAT."""
    solve = strand.Cancel.solve

    def unproven(self, solver, model):  # the change's model (it has the groups' cores) left unproven
        status = solve(self, solver, model)
        changing = any(v.name.startswith("core[") for v in model.proto.variables)
        return cp_model.FEASIBLE if changing and status == cp_model.OPTIMAL else status

    monkeypatch.setattr(strand.Cancel, "solve", unproven)
    inst = judged(grid_graph, GRID_LOCK, "GRD", rural=RURAL)
    result = strand_instance(inst, OPTIONS)
    assert [(c.kind, c.group, c.practice) for c in result.changes] == [("admit", "left", "C1")]
    assert "not proven" not in result.changes[0].text


def test_a_solution_hints_every_variable():
    """The smallest change's search goes on from a change found: every variable hinted with its value."""
    model = cp_model.CpModel()
    x, y = model.new_int_var(0, 9, "x"), model.new_bool_var("y")
    model.add(x + 3 * y >= 5)
    model.minimize(x)
    model.add_hint(x, 9)
    solver = cp_model.CpSolver()
    assert solver.solve(model) == cp_model.OPTIMAL
    strand._ChangeModel.hint_solution(SimpleNamespace(pm=SimpleNamespace(model=model)), solver)
    hint = model.proto.solution_hint
    assert list(hint.vars) == [0, 1] and list(hint.values) == [2, 1]


@pytest.mark.parametrize(
    ("ccg", "stranded"),
    [("11N", ("L82007", "L82618", "Y00049")), ("M2L0M", ("M82007", "M82058", "Y02495"))],
)
def test_stranded_practices_apart_get_a_change_each(ccg, stranded):
    """Today's PCNs agreed, three practices stranded apart: no candidate frees all three, so each
    is freed on its own (Y02495, inside a 128k group, by three of its walls: released largest first)
    and the changes are joined. CP-SAT alone found none in 2 s."""
    from footprint.graph import graph_from_practices

    practices = select_ccgs(read_practices(), [ccg])
    graph = graph_from_practices(practices, read_boundaries())
    lock = agreed_pieces(plan_from_practices(practices).restrict(graph.nodes), graph)
    result = strands(graph, lock=lock, options=OPTIONS).ccgs[ccg]
    assert result.stranded == stranded
    assert len(result.changes) == 3 and not any(c.kind == "exception" for c in result.changes)


def test_a_proposal_enclosing_practices_gets_a_change_not_an_exception():
    """Birmingham's U13655 proposed alone encloses three practices of 8-17k, each on its own.

    CP-SAT alone found no freeing change in 30 s (it said "a commissioner's exception would
    free it"); from the candidates' hint it finds releases that free all three.
    """
    from footprint.graph import graph_from_practices

    practices = select_ccgs(read_practices(), ["15E"])
    graph = graph_from_practices(practices, read_boundaries())
    current = plan_from_practices(practices)
    proposal = sorted(c for c, pcn in current.assignment.items() if pcn == "U13655")
    result = strands(graph, proposal=proposal, options=OPTIONS).ccgs["15E"]
    assert result.stranded == ("M85027", "M85030", "M85071")
    assert {c.kind for c in result.changes} == {"release"}
    assert {c.practice for c in result.changes} < set(proposal) and len(result.changes) < 11


# --------------------------------------------------------------------------------------
# Cancelling
# --------------------------------------------------------------------------------------


def test_a_cancelled_verdict_raises_before_any_solve(grid_graph):
    cancel = Cancel()
    cancel.set()
    assert cancel.is_set()
    with pytest.raises(CancelledError, match="the stranding computation was cancelled"):
        strands(grid_graph, lock=GRID_LOCK, rural=RURAL, options=OPTIONS, cancel=cancel)


def test_cancel_stops_a_running_search():
    """A search that would run for a minute stops within a moment of the token being set."""
    model = cp_model.CpModel()
    marks = [model.new_int_var(0, 200, f"mark[{k}]") for k in range(12)]  # a Golomb ruler of 12 marks
    model.add(marks[0] == 0)
    for a, b in itertools.pairwise(marks):
        model.add(a < b)
    diffs = [marks[j] - marks[i] for i in range(12) for j in range(i + 1, 12)]
    model.add_all_different(diffs)
    model.minimize(marks[-1])
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 60
    solver.parameters.num_workers = 1
    cancel = Cancel()
    threading.Timer(0.3, cancel.set).start()
    started = time.perf_counter()
    with pytest.raises(CancelledError):
        cancel.solve(solver, model)
    assert time.perf_counter() - started < 10


# --------------------------------------------------------------------------------------
# A proposal answered about itself
# --------------------------------------------------------------------------------------


def test_a_proposal_below_the_band_is_not_valid(grid_graph):
    """A4 (20k) proposed alone: below the floor, an error; the verdict says so, and no one is stranded."""
    verdict = judge_proposal(grid_graph, ["a4"], options=OPTIONS)
    assert (verdict.codes, verdict.patients, verdict.status) == (("A4",), 20_000, "below")
    assert verdict.errors == (("below", "below the floor of 30,000 (10,000 short)"),)
    assert not verdict.valid and not verdict.ok
    lines = verdict.lines()
    assert lines[0] == "proposal: 1 practice(s), 20,000 patients in GRD: Grid Practice A4 (A4, 20,000)"
    assert lines[-1] == "verdict: not valid; below the floor of 30,000 (10,000 short)"
    assert verdict.to_dict()["patients"] == 20_000 and verdict.to_dict()["ok"] is False


def test_a_proposal_in_pieces_is_not_judged_for_stranding(grid_graph):
    verdict = judge_proposal(grid_graph, ["A1", "A5"], options=OPTIONS)
    assert verdict.pieces == (("A1",), ("A5",))
    assert ("contiguity", "not connected: 2 pieces") in verdict.errors
    assert verdict.stranding is None and not verdict.ok
    assert "  stranding: not judged (the proposal is not one group within one CCG)" in verdict.lines()
    with pytest.raises(DataError, match=r"^the proposal names practice\(s\) not in the practices file: ZZ1$"):
        judge_proposal(grid_graph, ["A1", "zz1"], options=OPTIONS)


def test_a_valid_proposal_that_strands_no_one_says_so(grid_graph):
    """A4 and A5 (40k) with every other practice open: valid, no one stranded, and it says so."""
    current = Plan(dict.fromkeys(["A4", "A5", "B5"], "east") | dict.fromkeys(["A1", "A2"], "west"))
    verdict = judge_proposal(grid_graph, ["A4", "A5"], current=current, options=OPTIONS)
    assert verdict.ok and verdict.valid and verdict.stranded == ()
    lines = verdict.lines({"east": "East PCN"})
    assert "  stranding: no one stranded" in lines
    assert lines[-1] == "verdict: valid, and strands no one"
    assert (
        "  takes from east (East PCN) A4, A5 (2 of 3 practices); leaves 20,000 patients in 1 practice(s) "
        "(below the floor)"
    ) in lines


def test_the_smallest_change_keeps_the_proposal_valid(tmp_path, build):
    """A1 9k -- A2 7k -- A3 2k -- [A4 12k -- A5 19k]: the proposal (31k) strands A1, A2 and A3 (18k).

    Releasing A4 would free them (30k together) but leave A5 alone at 19k, below the floor:
    the smallest change that keeps the proposal valid takes all three in (49k).
    """
    practices, boundaries = line(tmp_path, [9_000, 7_000, 2_000, 12_000, 19_000])
    graph = build(practices, boundaries)
    verdict = judge_proposal(graph, ["A4", "A5"], options=OPTIONS)
    assert verdict.valid and verdict.stranded == ("A1", "A2", "A3") and not verdict.ok
    changes = verdict.stranding.changes
    assert sorted((c.kind, c.practice) for c in changes) == [
        ("admit", "A1"),
        ("admit", "A2"),
        ("admit", "A3"),
    ]
    assert all("not proven" not in c.text for c in changes)
    assert verdict.lines()[-1] == "verdict: valid; strands 3 practice(s)"


def test_an_island_proposal_is_judged_and_proven_within_a_short_proof_limit():
    """The Isle of Wight (D9Y0V, 2025): the island forces one group out of band on any completion.

    Proposing two of its practices, the fewest practices in bad groups (1) is proven from the
    stage's proven bound, and every open practice is at risk: the bad group, joined by its
    neighbours, stays bad (the grown completion shows it, checked whole by CP-SAT). Before,
    each of the verdict's four searches ran to the 60 s proof limit and the verdict was
    not proven; here it is proven within 10 s each.
    """
    from footprint.graph import graph_from_practices
    from footprint.load import SNAPSHOTS

    snapshot = SNAPSHOTS["2025-10"]
    practices = select_ccgs(read_practices(snapshot.practices), ["D9Y0V"])
    graph = graph_from_practices(practices, read_boundaries(snapshot.boundaries))
    options = replace(OPTIONS, proof_limit_s=10)
    verdict = judge_proposal(graph, ["J84003", "J84013"], options=options)
    result = verdict.stranding
    assert verdict.ok and result.proven
    open_below_ceiling = {c for c in graph if graph.nodes[c]["list_size"] <= 50_000} - {"J84003", "J84013"}
    assert result.stranded == () and set(result.at_risk) == open_below_ceiling
