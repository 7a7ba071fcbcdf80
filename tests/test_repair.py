from __future__ import annotations

import pytest

from footprint.config import SolveOptions
from footprint.errors import DataError
from footprint.evaluate import check_plan, plan_findings
from footprint.partition import repair_moves, repair_plan
from footprint.plan import Plan, plan_from_practices, transfer_distance
from tests.test_partition import line

OPTIONS = SolveOptions(workers=1, processes=1, seed=0, time_limit_s=5)


def assert_repaired(plan, graph):
    """Every practice once, every group connected within its CCG, no error left."""
    assert sorted(plan.assignment) == sorted(graph.nodes)
    assert check_plan(plan, graph) == []
    findings = plan_findings(plan, graph)
    assert (findings["severity"] == "error").sum() == 0, findings


def test_repair_with_a_known_minimum(tmp_path, build):
    """A1 20k | A2 15k -- A3 15k | A4 20k: two groups below the floor; the fewest moves is 2."""
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "y", "A4": "z"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == {frozenset({"A1", "A2"}), frozenset({"A3", "A4"})}
    assert_repaired(repaired, graph)
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["bound"], figures["proven"]) == (2, 2, True)
    assert repaired.info["moved"] == transfer_distance(current, repaired) == 2
    moves = repair_moves(current, repaired, graph)
    assert len(moves) == 2 and set(moves.columns) == {
        "practice_code",
        "name",
        "from",
        "to",
        "patients",
        "reason",
    }
    assert any("below the floor of 30,000" in r for r in moves["reason"])


def test_repair_leaves_a_valid_plan_alone_and_places_open_practices(tmp_path, build):
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": None, "A4": "z"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == {frozenset({"A1", "A2"}), frozenset({"A3", "A4"})}
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["open_placed"]) == (0, 1)
    assert repaired.assignment["A1"] == "x"  # a group continuing an existing one keeps its id
    assert_repaired(repaired, graph)


def test_split_large_brings_big_groups_into_band(tmp_path, build):
    """A1..A4 20k each in one 80k PCN: above the ceiling is a warning, kept unless split_large."""
    practices, boundaries = line(tmp_path, [20_000] * 4)
    graph = build(practices, boundaries)
    current = Plan(dict.fromkeys(["A1", "A2", "A3", "A4"], "big"))
    kept = repair_plan(graph, current, options=OPTIONS)
    assert kept.partition == current.partition and kept.info["repair"]["LIN"]["moves"] == 0
    split = repair_plan(graph, current, options=OPTIONS, split_large=True)
    assert split.partition == {frozenset({"A1", "A2"}), frozenset({"A3", "A4"})}
    assert split.info["repair"]["LIN"]["moves"] == 2


def test_repair_keeps_pairs(tmp_path, build):
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "y", "A4": "z"})
    repaired = repair_plan(graph, current, options=OPTIONS, apart=[("A1", "A2")])
    assert all(not {"A1", "A2"} <= g for g in repaired.partition)
    assert repaired.info["repair"]["LIN"]["errors_left"] == 1  # A1 can only join A2: unavoidable
    with pytest.raises(DataError, match="kept both apart and together"):
        repair_plan(graph, current, options=OPTIONS, apart=[("A1", "A2")], together=[("A1", "A2")])


def test_repair_of_the_real_slice(slice_practices, slice_graph):
    current = plan_from_practices(slice_practices).restrict(slice_graph.nodes)
    repaired = repair_plan(slice_graph, current, options=SolveOptions(workers=1, processes=1, time_limit_s=1))
    assert_repaired(repaired, slice_graph)
    assert set(repaired.info["repair"]) == {"01F", "99F", "99G"}
    assert repaired.info["repair"]["99F"]["open_placed"] == 1
