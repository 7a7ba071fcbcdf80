"""Repair: the rules it keeps, what it mends, why practices move, the bound on moves, staying close."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from ortools.sat.python import cp_model

from footprint.config import Rules, SolveOptions
from footprint.errors import DataError
from footprint.evaluate import check_plan, plan_findings, plan_summary
from footprint.load import read_boundaries, read_practices
from footprint.partition import repair_moves, repair_plan
from footprint.partition._instance import Instance, PlanInputs, instances_from_graph
from footprint.partition._moves_cover import least_moves
from footprint.partition._repair_bound import moves_lower_bound
from footprint.partition._repair_reasons import continuations
from footprint.partition._repair_start import current_pieces, repair_rules, repair_start
from footprint.partition._stay_close import closer_to_current, stay_close_starts
from footprint.partition.model import _joinable, build_model
from footprint.partition.repair import _keep_big_partners
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
    found = _repairs(inst, breaks)
    return None if found is None else found[:2]


def _repairs(inst, breaks):
    """Return the fewest errors, the fewest moves with them, and a repair of those errors with the most."""
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
        if best is None or errors < best[0]:
            best = (errors, moves, moves, labels)
        elif errors == best[0]:
            worst = (best[2], best[3]) if best[2] >= moves else (moves, labels)
            best = (errors, min(best[1], moves), *worst)
    return None if best is None else (best[0], best[1], best[3])


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
    # The moves' flags give CP-SAT a bound: on grids this small every repair is proven.
    assert figures["proven"] and figures["moves"] == least


@pytest.mark.parametrize("seed", range(220, 244))
def test_the_moves_bound_holds_without_open_practices(tmp_path, build, seed):
    """As above, with smaller practices and no open ones (pieces that must land somewhere)."""
    rng = random.Random(seed)
    sizes = [
        [rng.choice([3_000, 6_000, 9_000, 12_000, 16_000, 21_000, 27_000]) for _ in range(4)]
        for _ in range(2)
    ]
    practices = read_practices(write_practices(tmp_path / "g.csv", grid_rows(sizes)))
    boundaries = read_boundaries(write_boxes(tmp_path / "g.gpkg", {"GRD": (0, 0, 4, 2)}))
    graph = build(practices, boundaries)
    current = Plan({c: rng.choice(["p", "q", "r", "s"]) for c in sorted(graph.nodes)})
    breaks = ("below", "above") if seed % 2 else ("below",)
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    found = _least_moves(inst, breaks)
    if found is not None:
        errors, least = found
        assert moves_lower_bound(inst, breaks=breaks, left=errors) <= least


def _random_repair(tmp_path, build, seed):
    """Return a random 2 x 4 grid's instance (a practice over the ceiling at times), the statuses
    breaking the band, the fewest errors, the least moves with them and a repair of the most."""
    rng = random.Random(seed)
    sizes = [[rng.choice([3_000, 6_000, 9_000, 12_000, 16_000, 21_000, 27_000, 55_000]) for _ in range(4)]]
    sizes.append([rng.choice([6_000, 9_000, 12_000, 16_000, 21_000, 27_000]) for _ in range(4)])
    practices = read_practices(write_practices(tmp_path / "g.csv", grid_rows(sizes)))
    boundaries = read_boundaries(write_boxes(tmp_path / "g.gpkg", {"GRD": (0, 0, 4, 2)}))
    graph = build(practices, boundaries)
    current = Plan({c: rng.choice(["p", "q", "r", None]) for c in sorted(graph.nodes)})
    breaks = ("below", "above") if seed % 2 else ("below",)
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    inst = _keep_big_partners(inst)
    found = _repairs(inst, breaks)
    assert found is not None
    return inst, breaks, *found


@pytest.mark.parametrize("seed", range(300, 324))
def test_the_moves_search_finds_the_least_moves_and_never_passes_them(tmp_path, build, seed):
    """Random existing groups on a 2 x 4 grid, a practice over the ceiling at times (standing alone
    where its PCN is its own): from the repair of the fewest errors with the most moves, the
    set partitioning's search finds a repair of the fewest moves, or proves the start has them.

    A probe that left the groups of practices standing alone out of the covers (as a first
    version did) or priced no PCN matched to no group fails it."""
    inst, breaks, errors, least, start = _random_repair(tmp_path, build, seed)
    rules = repair_rules(inst)
    better, bound = least_moves(inst, rules, start, breaks=breaks, left=errors)
    assert bound == least
    moves = STAGE_REGISTRY["moves"].evaluate
    if better is None:
        assert moves(Grouping(inst, start)) == least
    else:
        grouping = Grouping(inst, better)
        assert rules(better) and moves(grouping) == least
        assert sum(s in breaks for s in grouping.statuses) <= errors


@pytest.mark.parametrize("seed", range(300, 324))
def test_the_moves_search_holds_with_few_pairs_kept(tmp_path, build, seed, monkeypatch):
    """As above with the covers' pairs cut to 3: a repair holding a pair past those kept has
    more moves than its reduced cost allows, so the bound still never passes the least moves."""
    from footprint.partition import _moves_cover

    monkeypatch.setattr(_moves_cover, "COVER_PAIRS", 3)
    inst, breaks, errors, least, start = _random_repair(tmp_path, build, seed)
    rules = repair_rules(inst)
    better, bound = least_moves(inst, rules, start, breaks=breaks, left=errors)
    assert bound <= least
    assert better is None or (
        rules(better) and STAGE_REGISTRY["moves"].evaluate(Grouping(inst, better)) >= least
    )


def test_the_moves_bound_lets_a_group_keep_part_of_a_piece(tmp_path, build):
    """q = {A1, A2} and {B3, B4}, cut apart by A3 (s):

        A1 16k q | A2  6k q | A3  6k s | A4 16k r
        B1 12k p | B2 27k p | B3  9k q | B4 27k q

    Two moves mend everything: A3 joins q's {A1, A2, B3} (37k) and B4 joins A4 (43k). q keeps
    part of its piece {B3, B4}: the whole piece with {A1, A2} would be above the ceiling, and
    a bound that takes pieces whole said 3.
    """
    sizes = [[16_000, 6_000, 6_000, 16_000], [12_000, 27_000, 9_000, 27_000]]
    practices = read_practices(write_practices(tmp_path / "g.csv", grid_rows(sizes)))
    boundaries = read_boundaries(write_boxes(tmp_path / "g.gpkg", {"GRD": (0, 0, 4, 2)}))
    graph = build(practices, boundaries)
    groups = {"A1": "q", "A2": "q", "A3": "s", "A4": "r", "B1": "p", "B2": "p", "B3": "q", "B4": "q"}
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=Plan(groups)))
    breaks = ("below", "above")
    assert _least_moves(inst, breaks) == (0, 2)
    assert moves_lower_bound(inst, breaks=breaks, left=0) == 2
    repaired = repair_plan(graph, Plan(groups), options=OPTIONS, split_large=True)
    figures = repaired.info["repair"]["GRD"]
    assert (figures["moves"], figures["bound"], figures["proven"]) == (2, 2, True)


def test_a_piece_with_nowhere_to_land_costs_a_move_more(tmp_path, build):
    """x = A1 25k A2 26k (51k, above: kept) and A4 1k beyond y; A4 must leave x, but joins no one as is:

        A1 25k x -- A2 26k x -- A3 49.5k y -- A4 1k x -- A5 30k z -- A6 19.6k z -- A7 20k w

    y and z (49.6k) would pass the ceiling with it: z must give A6 to w first (w is below
    the floor anyway). The least is 2 moves, and the bound sees both.
    """
    practices, boundaries = line(tmp_path, [25_000, 26_000, 49_500, 1_000, 30_000, 19_600, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "y", "A4": "x", "A5": "z", "A6": "z", "A7": "w"})
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    assert moves_lower_bound(inst, left=0) == 2
    repaired = repair_plan(graph, current, options=OPTIONS)
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["bound"], figures["proven"], figures["errors_left"]) == (2, 2, True, 0)


def test_an_open_practice_with_nowhere_to_land_costs_a_move(tmp_path, build):
    """A1 5k open next to y = A2 26k A3 23k (49k): y cannot take it as it is; A3 goes to z.

        A1 5k open -- A2 26k y -- A3 23k y -- A4 10k z -- A5 25k z

    z (35k) takes A3 (58k)? No: A4 joins... the least is one move, and the bound is 1.
    """
    practices, boundaries = line(tmp_path, [5_000, 26_000, 23_000, 4_000, 23_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": None, "A2": "y", "A3": "y", "A4": "z", "A5": "z"})
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    assert _least_moves(inst, ("below",)) == (0, 1)
    assert moves_lower_bound(inst, left=0) == 1


# --------------------------------------------------------------------------------------
# The start: pairs joined, groups shared out, groups above the ceiling cut and mended
# --------------------------------------------------------------------------------------


def test_a_pair_joined_may_leave_a_group_to_mend(tmp_path, build):
    """x A1 20k A2 15k | y A3 15k A4 20k | z A5 10k A6 30k, A2 and A3 kept together.

    A3 joins x (50k) and leaves y's A4 at 20k, below the floor: the start takes the join
    and mends y with A5 (30k each). Two moves, repair's rules kept.
    """
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000, 10_000, 30_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "y", "A4": "y", "A5": "z", "A6": "z"})
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    rules = repair_rules(inst, together=[(1, 2)])
    start = repair_start(inst, rules)
    assert rules(start) and start[1] == start[2]
    assert {frozenset(g) for g in _members(start)} == {
        frozenset({0, 1, 2}),
        frozenset({3, 4}),
        frozenset({5}),
    }
    repaired = repair_plan(graph, current, options=OPTIONS, together=[("A2", "A3")])
    figures = repaired.info["repair"]["LIN"]
    assert (figures["moves"], figures["errors_left"], figures["rules_kept"]) == (2, 0, True)


def _members(labels):
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(labels):
        groups.setdefault(g, []).append(i)
    return list(groups.values())


def test_a_group_above_the_ceiling_is_cut_and_the_part_below_mended(tmp_path, build):
    """x A1 30k A2 12k A3 10k A4 5k (57k) | y A5 16k A6 30k, with split_large.

    No one change mends x: giving A4 to y makes 51k, and the cut {A1} | {A2, A3, A4} leaves
    27k below the floor. The start makes the cut, then mends the part below with A5 (43k),
    y keeping A6 (30k): no group out of band.
    """
    practices, boundaries = line(tmp_path, [30_000, 12_000, 10_000, 5_000, 16_000, 30_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "x", "A4": "x", "A5": "y", "A6": "y"})
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    start = repair_start(inst, repair_rules(inst), split_large=True)
    assert {frozenset(g) for g in _members(start)} == {
        frozenset({0}),
        frozenset({1, 2, 3, 4}),
        frozenset({5}),
    }


@pytest.mark.parametrize("split_large", [False, True])
def test_the_start_keeps_what_it_judged_of_each_group(monkeypatch, split_large):
    """The start keeps each group's figures and each judged group (practices, owner): it makes
    the same start as one that judges every group afresh, on real CCGs with many mends."""
    from footprint.graph import graph_from_practices
    from footprint.load import select_ccgs
    from footprint.partition import _repair_start

    practices = select_ccgs(read_practices(), ["15E", "11N", "01T"])
    graph = graph_from_practices(practices)
    instances = instances_from_graph(graph, Rules(), PlanInputs(current=plan_from_practices(practices)))
    kept = [repair_start(inst, repair_rules(inst), split_large=split_large) for inst in instances]
    real = _repair_start._State.cost

    def afresh(state, changed):
        state.known.clear()
        state.judgements.clear()
        return real(state, changed)

    monkeypatch.setattr(_repair_start._State, "cost", afresh)
    assert kept == [repair_start(inst, repair_rules(inst), split_large=split_large) for inst in instances]


def test_the_reasons_name_the_practices_on_the_way_between_a_pair():
    """A and C kept together; B (of v) lies between them in u."""
    graph = nx.Graph()
    graph.add_nodes_from("ABCDE", ccg_code="X", list_size=10_000, x=0.0, y=0.0)
    graph.nodes["A"]["list_size"] = 30_000
    graph.add_edges_from([("A", "B"), ("B", "C"), ("C", "D"), ("D", "E")], type="rook")
    before = Plan({"A": "u", "B": "v", "C": "w", "D": "w", "E": "w"})
    after = Plan({"A": "u", "B": "u", "C": "u", "D": "w", "E": "w"})
    moves = repair_moves(before, after, graph, together=[("A", "C")])
    reasons = dict(zip(moves["practice_code"], moves["reason"], strict=True))
    assert reasons == {
        "B": "on the way between A and C, kept together in u (50,000 patients now)",
        "C": "kept together with A",
    }


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


def test_the_stay_close_start_keeps_buildings_and_shares_out_a_group():
    """Current PCNs a = {A}, b = {B, C}, c = {D, E}; B and C share a building; b is below the floor.

        A 25k -- B 4k -- C 4k -- D 20k -- E 12k

    A plan that splits no building and leaves no group out of band: {A, B, C} (33k) and
    {D, E} (32k), one move (b shared out whole, its building kept).
    """
    inst = Instance(
        "X", list("ABCDE"), list("abcde"), [25_000, 4_000, 4_000, 20_000, 12_000], [(0.0, 0.0)] * 5,
        [(0, 1), (1, 2), (2, 3), (3, 4)], {}, [[1, 2]], [False] * 5, [False] * 5, [], [0, 1, 1, 3, 3],
        Rules(),
    )  # fmt: skip
    fixed = {"out_of_band": 0.0, "out_of_band_all": 0.0, "deviation": 0.0, "split_sites": 0.0}
    starts = stay_close_starts(inst, [0, 0, 2, 2, 2], fixed)
    best = min(starts, key=lambda s: STAGE_REGISTRY["moves"].evaluate(Grouping(inst, s)))
    assert {frozenset(g) for g in _members(best)} == {frozenset({0, 1, 2}), frozenset({3, 4})}
    assert STAGE_REGISTRY["moves"].evaluate(Grouping(inst, best)) == 1  # b continues in {A, B, C}


def test_a_pcn_is_flagged_only_on_practices_within_the_ceiling_of_it(tmp_path, build):
    """A1 20k p -- A2 20k q -- A3 20k q -- A4 20k r: a group of p and others holds at most
    50,000, so only A2 may join p's group (A1 + A2 = 40,000; A1 + A2 + A3 = 60,000); without
    repair's ceiling every practice may."""
    practices, boundaries = line(tmp_path, [20_000] * 4)
    graph = build(practices, boundaries)
    current = Plan({"A1": "p", "A2": "q", "A3": "q", "A4": "r"})
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    assert inst.current is not None
    pcn = {inst.codes[i]: c for i, c in enumerate(inst.current)}
    flagged = {
        c: {inst.codes[i] for i in members}
        for c, members in _joinable(inst, sorted(set(pcn.values())), 50_000).items()
    }
    assert flagged[pcn["A1"]] == {"A1", "A2"}
    assert flagged[pcn["A2"]] == {"A1", "A2", "A3", "A4"}  # A2 + A3 = 40,000 takes in either end
    assert flagged[pcn["A4"]] == {"A3", "A4"}
    unlimited = _joinable(inst, sorted(set(pcn.values())), None)
    assert all(len(members) == 4 for members in unlimited.values())


def test_the_moves_flags_mark_the_group_matched_to_each_pcn_whole(tmp_path, build):
    """A1 20k x | A2 15k y, A3 15k y | A4 20k z, A5 12k z, every group in band: one move (A1
    joins y at 50,000). Solved, each PCN's flags cover one whole group or none, and a practice
    stays exactly where it is flagged for its own PCN."""
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000, 12_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "y", "A4": "z", "A5": "z"})
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs(current=current))
    pm = build_model(inst, stages=["moves"], mixed_high=50_000)
    assert pm.moves is not None
    pm.model.add(sum(pm.band.not_exempt.values()) == 0)  # every group in band
    pm.model.minimize(pm.moves.moved)
    solver = cp_model.CpSolver()
    assert solver.solve(pm.model) == cp_model.OPTIMAL
    labels = pm.labels(solver)
    assert solver.objective_value == STAGE_REGISTRY["moves"].evaluate(Grouping(inst, labels)) == 1
    assert inst.current is not None
    for c in set(inst.current):
        flagged = {i for (i, k), flag in pm.moves.member.items() if k == c and solver.value(flag)}
        assert len({labels[i] for i in flagged}) <= 1
        assert flagged == {i for i in range(inst.n) if flagged and labels[i] == labels[min(flagged)]}
    for i, stay in pm.moves.stay.items():
        assert solver.value(stay) == solver.value(pm.moves.member[i, inst.current[i]])


@pytest.mark.parametrize(
    ("time_limit", "errors_searched", "searched"),
    [(0.05, False, 1.5), (0.05, True, 1.0), (5.0, False, 5.0), (120.0, True, 60.0)],
)
def test_the_moves_are_searched_for_the_time_limit_where_longer(
    tmp_path, build, monkeypatch, time_limit, errors_searched, searched
):
    """The moves get MOVES_LIMIT_S (and REPAIR_LIMIT_S where the errors needed no search), or
    the time limit where it is longer, at most the proof limit."""
    import footprint.partition.repair as repair

    limits = []

    def run_stages(pm, labels, stages, options, **kwargs):
        if stages[-1] == "moves":
            limits.append(options.proof_limit_s)
        return real(pm, labels, stages, options, **kwargs)

    real = repair.run_stages
    monkeypatch.setattr(repair, "run_stages", run_stages)
    monkeypatch.setattr(repair, "MOVES_LIMIT_S", 1.0)
    monkeypatch.setattr(repair, "REPAIR_LIMIT_S", 0.5)
    if errors_searched:
        # Started from the existing groups unmended (two below the floor), the errors are searched.
        monkeypatch.setattr(repair, "repair_start", lambda inst, *_a, **_k: current_pieces(inst)[0])
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "y", "A3": "y", "A4": "z"})
    options = SolveOptions(workers=1, processes=1, time_limit_s=time_limit, proof_limit_s=60.0)
    searches = []

    def errors(*args, **kwargs):
        searches.append(args[0].inst.ccg)
        return real_errors(*args, **kwargs)

    real_errors = repair._errors
    monkeypatch.setattr(repair, "_errors", errors)
    repair_plan(graph, current, options=options)
    assert bool(searches) == errors_searched
    assert limits == [searched]


@pytest.mark.parametrize(("ccg", "least"), [("36J", 10), ("52R", 9)])
def test_real_repairs_are_proven_by_the_moves_search(ccg, least):
    """Where CP-SAT leaves the moves unproven (bound 4 and 5, what the broken groups must lose),
    the set partitioning's relaxation and covers prove them at the defaults."""
    from footprint.graph import graph_from_practices
    from footprint.load import select_ccgs

    practices = select_ccgs(read_practices(), [ccg])
    repaired = repair_plan(
        graph_from_practices(practices), plan_from_practices(practices), options=SolveOptions()
    )
    figures = repaired.info["repair"][ccg]
    assert (figures["moves"], figures["bound"], figures["proven"]) == (least, least, True)


def test_the_moves_relaxation_takes_each_pcns_pairs_in_turn():
    """B2M3M (119 practices, 12 moves): partial pricing passes that always began with the first
    PCNs found their pairs alone, and the relaxation stayed at 12 until the budget ran out (bound
    5, what the broken groups must lose); taken in turn, it certifies 10."""
    from footprint.graph import graph_from_practices
    from footprint.load import select_ccgs

    practices = select_ccgs(read_practices(), ["B2M3M"])
    repaired = repair_plan(
        graph_from_practices(practices), plan_from_practices(practices), options=SolveOptions()
    )
    figures = repaired.info["repair"]["B2M3M"]
    assert figures["bound"] >= 10 and figures["moves"] >= figures["bound"]
