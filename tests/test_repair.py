"""Repair: the rules it keeps, what it mends, why practices move, the bound on moves, staying close."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from footprint.config import Rules, SolveOptions
from footprint.errors import DataError
from footprint.evaluate import check_plan, plan_findings, plan_summary
from footprint.load import read_boundaries, read_practices
from footprint.partition import repair_moves, repair_plan
from footprint.partition._instance import Instance, PlanInputs, instances_from_graph
from footprint.partition._repair_bound import moves_lower_bound
from footprint.partition._repair_reasons import continuations
from footprint.partition._repair_start import repair_rules
from footprint.partition._stay_close import closer_to_current
from footprint.partition.stages import STAGE_REGISTRY, Grouping
from footprint.plan import Plan, plan_from_practices, transfer_distance
from tests.conftest import grid_rows, write_boxes, write_practices
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
    assert len(moves) == 2 and list(moves.columns) == [
        "practice_code",
        "name",
        "from",
        "to",
        "to_name",
        "patients",
        "reason",
    ]
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


# --------------------------------------------------------------------------------------
# Repair's rules: in-band groups stay in band, groups above the ceiling gain no one
# --------------------------------------------------------------------------------------


def test_an_in_band_group_never_leaves_the_band(tmp_path, build):
    """x A1 25k | y A2 20k -- A3 20k: x below, y in band (40k).

    Merging x into y makes 65k, above the ceiling; y giving A2 to x leaves A3 at 20k, out of
    band. Neither is allowed: x stays below, kept and explained as unrepairable.
    """
    practices, boundaries = line(tmp_path, [25_000, 20_000, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "y"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == current.partition and repaired.assignment == current.assignment
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["bound"], figures["proven"], figures["errors_left"]) == (0, 0, True, 1)
    assert figures["unrepairable"] == [
        {
            "pcn": "x",
            "why": "x (25,000 patients in 1 practice(s)) stays below the floor of 30,000: no neighbouring "
            "PCN can take it in: y 40,000 → 65,000; the practices next to it that its neighbours can spare "
            "and stay whole and in band hold 0 patients, short of the 5,000 it needs (proven: no repair "
            "within the rules mends more groups)",
        }
    ]
    summary = plan_summary(repaired, graph)  # the explanations name groups by their ids in the plan
    assert summary["ccgs"]["LIN"]["explanations"]["x"] == figures["unrepairable"][0]["why"]
    assert repaired.info["figures"]["after"] == repaired.info["figures"]["before"]


def test_a_group_above_the_ceiling_gains_no_one_but_may_give(tmp_path, build):
    """x A1 10k | y A2 22k -- A3 30k (52k, above): y gives A2 to x (32k), and keeps A3 (30k).

    Taking x in would make y 62k: a group above the ceiling gains no one.
    """
    practices, boundaries = line(tmp_path, [10_000, 22_000, 30_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "y"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == {frozenset({"A1", "A2"}), frozenset({"A3"})}
    # y continues (A3 alone); {A1, A2} holds one practice of x and one of y: a new id (not more than half)
    assert repaired.assignment == {"A1": "LIN-01", "A2": "LIN-01", "A3": "y"}
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["bound"], figures["proven"], figures["errors_left"]) == (1, 1, True, 0)
    assert repaired.info["figures"] == {
        "before": {"groups": 2, "above": 1, "below": 1, "in_band_share": 0.0},
        "after": {"groups": 2, "above": 0, "below": 0, "in_band_share": 1.0},
    }
    moves = repair_moves(current, repaired, graph)
    assert moves[["practice_code", "from", "to", "patients"]].values.tolist() == [
        ["A2", "y", "LIN-01", 22_000]
    ]
    assert moves["reason"].tolist() == [
        "LIN-01 (continuing x) needed it to reach the band (10,000 → 32,000 patients)"
    ]


def test_repair_never_puts_a_group_above_the_ceiling(tmp_path, build):
    """x A1 20k A2 10k (30k) | y A3 25k: merging makes 55k, so y stays below; nothing moves."""
    practices, boundaries = line(tmp_path, [20_000, 10_000, 25_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "y"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == current.partition
    assert repaired.info["figures"]["after"]["above"] == 0
    assert repaired.info["repair"]["LIN"]["errors_left"] == 1


def test_a_group_in_pieces_keeps_its_larger_piece(tmp_path, build):
    """x = A1 20k and A3 15k, cut off by y's A2 20k: A3 leaves x (one move, proven by the bound).

    Joined through A2 the three would make 55k, two existing groups above the ceiling;
    A3 joins A2 (35k, in band) and A1 stays alone below the floor, unrepairable: A2 cannot
    leave y for it without y falling below.
    """
    practices, boundaries = line(tmp_path, [20_000, 20_000, 15_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "x"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == {frozenset({"A1"}), frozenset({"A2", "A3"})}
    assert repaired.assignment == {"A1": "x", "A2": "LIN-02", "A3": "LIN-02"}  # one of x, one of y
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["bound"], figures["proven"], figures["errors_left"]) == (1, 1, True, 1)
    moves = repair_moves(current, repaired, graph)
    assert moves["reason"].tolist() == ["not connected: 2.0 km from the nearest member of x"]
    assert [u["pcn"] for u in figures["unrepairable"]] == ["x"]


def test_a_group_across_a_ccg_line_is_said_to_cross(tmp_path, build):
    """AAA: A1 20k (x), A2 12k (z) | BBB: A3 12k (z), A4 8k (z), A5 25k (w).

    z crosses the line; its part in BBB (20k) continues it, joined by w (45k); A2 joins x.
    """
    rows = grid_rows([[20_000, 12_000, 12_000, 8_000, 25_000]], ccg="AAA")
    for row in rows[2:]:
        row["ccg_code"] = "BBB"
    practices = read_practices(write_practices(tmp_path / "two.csv", rows))
    boundaries = read_boundaries(
        write_boxes(tmp_path / "two.gpkg", {"AAA": (0, 0, 2, 1), "BBB": (2, 0, 5, 1)})
    )
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "z", "A3": "z", "A4": "z", "A5": "w"})
    repaired = repair_plan(graph, current, options=OPTIONS)
    assert repaired.partition == {frozenset({"A1", "A2"}), frozenset({"A3", "A4", "A5"})}
    moves = repair_moves(current, repaired, graph)
    reasons = dict(zip(moves["practice_code"], moves["reason"], strict=True))
    assert reasons["A2"] == "z crossed into BBB: a PCN stays within its CCG"
    assert_repaired(repaired, graph)


def test_pairs_kept_together_move_one_practice_not_whole_groups(tmp_path, build):
    """x A1 20k A2 12k (32k) | y A3 12k A4 20k A5 10k (42k); A2 and A3 kept together.

    A3 joins x (44k) and y keeps 30k: one move, no error, no group merged whole.
    """
    practices, boundaries = line(tmp_path, [20_000, 12_000, 12_000, 20_000, 10_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "y", "A4": "y", "A5": "y"})
    repaired = repair_plan(graph, current, options=OPTIONS, together=[("A2", "A3")])
    assert repaired.assignment == {"A1": "x", "A2": "x", "A3": "x", "A4": "y", "A5": "y"}
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["errors_left"], figures["rules_kept"]) == (1, 0, True)
    moves = repair_moves(current, repaired, graph, together=[("A2", "A3")])
    assert moves["reason"].tolist() == ["kept together with A2"]


def test_pairs_no_repair_within_the_rules_can_keep_are_kept_and_said(tmp_path, build):
    """x A1 20k A2 15k | y A3 15k A4 20k, A2 and A3 kept together: either group would fall below
    the floor, so the CCG is repaired without repair's rules, and says so."""
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "y", "A4": "y"})
    repaired = repair_plan(graph, current, options=OPTIONS, together=[("A2", "A3")])
    assert any({"A2", "A3"} <= g for g in repaired.partition)
    assert repaired.info["repair"]["LIN"]["rules_kept"] is False
    assert_repaired(repaired, graph) if repaired.info["repair"]["LIN"]["errors_left"] == 0 else None


# --------------------------------------------------------------------------------------
# What moves, and ids
# --------------------------------------------------------------------------------------


def test_moves_follow_the_ids_where_groups_tie():
    """A group split in two halves: the half that keeps the id stays; the other half moves."""
    before = Plan({"A": "u", "B": "u", "C": "u", "D": "u", "E": "v"})
    after = Plan({"A": "u", "B": "u", "C": "n", "D": "n", "E": "v"})
    assert continuations(before, after) == {"u": "u", "v": "v"}
    graph = nx.Graph()
    graph.add_nodes_from("ABCDE", ccg_code="X", list_size=10_000, x=0.0, y=0.0)
    graph.add_edges_from([("A", "B"), ("B", "C"), ("C", "D"), ("D", "E")], type="rook")
    moves = repair_moves(before, after, graph)
    assert moves[["practice_code", "from", "to"]].values.tolist() == [["C", "u", "n"], ["D", "u", "n"]]
    assert (moves["from"] != moves["to"]).all()


def test_a_continuing_pcn_keeps_its_id_on_the_slice(slice_practices, slice_graph):
    """Every group that keeps more than half of its practices from one existing PCN keeps its id."""
    current = plan_from_practices(slice_practices).restrict(slice_graph.nodes)
    repaired = repair_plan(slice_graph, current, options=OPTIONS)
    for pcn, members in repaired.groups.items():
        origins = [current.assignment[c] for c in members]
        top = max(set(origins), key=origins.count)
        if top is not None and 2 * origins.count(top) > len(members):
            assert pcn == top, (pcn, sorted(members))


# --------------------------------------------------------------------------------------
# The lower bound on moves, against every repair of small grids
# --------------------------------------------------------------------------------------


def _partitions(items: list[int]):
    """Yield every partition of ``items`` into blocks (lists)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in _partitions(rest):
        for k in range(len(smaller)):
            yield [*smaller[:k], [first, *smaller[k]], *smaller[k + 1 :]]
        yield [[first], *smaller]


def _least_moves(inst, breaks):
    """Return the fewest errors and, with them, the fewest moves of any repair within the rules."""
    rules = repair_rules(inst)
    adjacency = inst.neighbours()
    best = None
    for blocks in _partitions(list(range(inst.n))):
        if not all(
            nx.is_connected(
                nx.Graph([(i, j) for i in b for j in adjacency[i] if j in b] + [(i, i) for i in b])
            )
            for b in blocks
        ):
            continue
        labels = [0] * inst.n
        for b in blocks:
            for i in b:
                labels[i] = min(b)
        if not rules(labels):
            continue
        grouping = Grouping(inst, labels)
        errors = sum(s in breaks for s in grouping.statuses)
        moves = STAGE_REGISTRY["moves"].evaluate(grouping)
        best = (errors, moves) if best is None else min(best, (errors, moves))
    return best


@pytest.mark.parametrize("seed", range(24))
def test_the_moves_bound_is_never_above_the_least_moves(tmp_path, build, seed):
    """Random existing groups on a 2 x 4 grid of random sizes: the bound never exceeds the least moves."""
    rng = random.Random(seed)
    sizes = [[rng.choice([6_000, 9_000, 12_000, 16_000, 21_000, 27_000]) for _ in range(4)] for _ in range(2)]
    practices = read_practices(write_practices(tmp_path / "g.csv", grid_rows(sizes)))
    boundaries = read_boundaries(write_boxes(tmp_path / "g.gpkg", {"GRD": (0, 0, 4, 2)}))
    graph = build(practices, boundaries)
    codes = sorted(graph.nodes)
    current = Plan({c: rng.choice(["p", "q", "r", None]) for c in codes})
    split = seed % 2 == 1
    breaks = ("below", "above") if split else ("below",)
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    errors, least = _least_moves(inst, breaks)
    assert moves_lower_bound(inst, breaks=breaks, left=errors) <= least
    repaired = repair_plan(graph, current, options=OPTIONS, split_large=split)
    figures = repaired.info["repair"]["GRD"]
    assert figures["errors_left"] == errors and figures["bound"] <= least <= figures["moves"]
    if figures["proven"]:
        assert figures["moves"] == least


# --------------------------------------------------------------------------------------
# A plan that stays close: the walk back to the current PCNs
# --------------------------------------------------------------------------------------


def test_practices_walk_back_to_their_current_pcns_within_the_band():
    """A 20k B 15k | C 10k D 20k E 10k (current PCNs); planned {A, B, C} 45k and {D, E} 30k.

    C goes back to D and E (40k), leaving 35k: both in band. From {A, B} and {C, D, E} nothing
    goes back; from {A} {B, C, D, E} B would leave 40k... A alone (20k) is out of band: no walk.
    """
    inst = Instance(
        "X", list("ABCDE"), list("abcde"), [20_000, 15_000, 10_000, 20_000, 10_000], [(0.0, 0.0)] * 5,
        [(0, 1), (1, 2), (2, 3), (3, 4)], {}, [], [False] * 5, [False] * 5, [], [0, 0, 1, 1, 1], Rules(),
    )  # fmt: skip
    assert closer_to_current(inst, [0, 0, 0, 3, 3]) == [0, 0, 2, 2, 2]
    assert closer_to_current(inst, [0, 0, 2, 2, 2]) == [0, 0, 2, 2, 2]
    assert closer_to_current(inst, [0, 1, 1, 1, 1]) == [0, 1, 1, 1, 1]
