from __future__ import annotations

import networkx as nx
import pytest

from footprint.config import Rules, SolveOptions
from footprint.errors import PlanError
from footprint.evaluate import check_plan, score_plan
from footprint.load import read_boundaries, read_practices
from footprint.partition import solve_plan
from footprint.plan import Plan, plan_from_practices
from tests.conftest import grid_rows, write_boxes, write_practices

#: Tests solve with one worker, a fixed seed and tiny instances solved to optimality.
OPTIONS = SolveOptions(workers=1, processes=1, seed=0, time_limit_s=5)


def assert_plan_invariants(plan: Plan, graph: nx.Graph, rules: Rules | None = None, **kw) -> None:
    """Every practice once, every group connected within its CCG, the band met or explained."""
    rules = rules or Rules()
    assert sorted(plan.assignment) == sorted(graph.nodes)
    assert not plan.open_practices
    assert check_plan(plan, graph, **kw) == []
    explained = {pcn for r in plan.info["ccgs"].values() for pcn in r.explanations}
    for pcn, members in plan.groups.items():
        size = sum(graph.nodes[m]["list_size"] for m in members)
        if not rules.band.contains(size):
            assert pcn in explained, (pcn, size)
    for result in plan.info["ccgs"].values():
        assert result.stages[0].proven  # fewest out-of-band groups is always proven here


def line(tmp_path, sizes, *, ccg="LIN", extra=None):
    """Practices A1..An in a row, 1 km apart, in one box-shaped CCG: A1 -- A2 -- ... -- An."""
    rows = grid_rows([sizes], ccg=ccg)
    for row in rows:
        row.update((extra or {}).get(row["practice_code"], {}))
    practices = read_practices(write_practices(tmp_path / "line.csv", rows))
    boundaries = read_boundaries(write_boxes(tmp_path / "line.gpkg", {ccg: (0, 0, len(sizes), 1)}))
    return practices, boundaries


def test_line_has_unique_optimum(tmp_path, build):
    """A1 20k -- A2 15k -- A3 15k -- A4 20k: only {A1,A2},{A3,A4} keeps both in 30-50k."""
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert plan.partition == {frozenset({"A1", "A2"}), frozenset({"A3", "A4"})}
    assert_plan_invariants(plan, graph)
    result = plan.info["ccgs"]["LIN"]
    assert result.status == "OPTIMAL"
    assert [s.name for s in result.stages] == ["out_of_band", "deviation", "split_sites", "compactness"]
    assert all(s.value == s.bound for s in result.stages)
    assert set(plan.groups) == {"LIN-01", "LIN-02"}


def test_grid_meets_band_everywhere(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert_plan_invariants(plan, graph)
    score = score_plan(plan, graph)
    assert score.out_of_band == 0 and score.deviation == 0
    assert score.groups in (2, 3)


def test_infeasible_band_returns_full_plan_and_explains(tmp_path, build):
    """A1 20k -- A2 45k: together 65k, apart A1 is 10k short; the fewest deviation keeps them apart."""
    practices, boundaries = line(tmp_path, [20_000, 45_000])
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert plan.partition == {frozenset({"A1"}), frozenset({"A2"})}
    assert_plan_invariants(plan, graph)
    result = plan.info["ccgs"]["LIN"]
    assert result.out_of_band == 1
    assert result.stages[1].value == 10_000
    (why,) = result.explanations.values()
    assert "Grid practice A1 (A1, 20,000)" in why and "below the band of 30,000" in why
    assert "together 65,000" in why and "proved no plan of LIN has fewer than 1" in why


def test_locked_group_is_respected(tmp_path, build):
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    lock = Plan({"A2": "agreed", "A3": "agreed", "A1": None})
    plan = solve_plan(graph, options=OPTIONS, lock=lock)
    assert frozenset({"A2", "A3"}) in plan.partition
    assert plan.partition == {frozenset({"A1"}), frozenset({"A2", "A3"}), frozenset({"A4"})}
    assert_plan_invariants(plan, graph)


def test_lock_that_is_not_contiguous_is_refused(tmp_path, build):
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    with pytest.raises(PlanError, match=r"not contiguous: its practices fall into 2 pieces \(A1; A3\)"):
        solve_plan(graph, options=OPTIONS, lock=Plan({"A1": "x", "A3": "x"}))


def test_big_practice_stands_alone_unless_allowed(tmp_path, build):
    """A1 55k -- A2 10k: alone, both are out of band; merged, only one group is."""
    practices, boundaries = line(tmp_path, [55_000, 10_000])
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert plan.partition == {frozenset({"A1"}), frozenset({"A2"})}
    assert_plan_invariants(plan, graph)
    (why,) = [w for w in plan.info["ccgs"]["LIN"].explanations.values() if "stands alone" in w]
    assert "55,000 patients, over 50,000" in why
    merged = solve_plan(graph, options=OPTIONS, rules=Rules(big_may_merge=True))
    assert merged.partition == {frozenset({"A1", "A2"})}
    assert merged.info["ccgs"]["LIN"].out_of_band == 1


def test_rural_groups_may_go_down_to_the_floor(tmp_path, build):
    practices, boundaries = line(tmp_path, [12_000, 10_000])
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert plan.info["ccgs"]["LIN"].out_of_band == 1
    rural = solve_plan(graph, options=OPTIONS, rules=Rules(rural_ccgs=frozenset({"LIN"})))
    assert rural.partition == {frozenset({"A1", "A2"})}
    assert rural.info["ccgs"]["LIN"].out_of_band == 0
    flagged = solve_plan(graph, options=OPTIONS, rural=["A1", "A2"])
    assert flagged.info["ccgs"]["LIN"].out_of_band == 0
    half = solve_plan(graph, options=OPTIONS, rural=["A1"])  # a group is rural only if all are
    assert half.info["ccgs"]["LIN"].out_of_band == 1


def test_buildings_kept_together(tmp_path, build):
    """A1 20k and S1 15k share a building; A2 15k, A3 20k: {A1,S1},{A2,A3} splits nothing."""
    rows = grid_rows([[20_000, 15_000, 20_000]], ccg="LIN")
    rows.append(dict(rows[0], practice_code="S1", practice_name="Shared", list_size=15_000))
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    graph = build(practices, read_boundaries(write_boxes(tmp_path / "b.gpkg", {"LIN": (0, 0, 3, 1)})))
    plan = solve_plan(graph, options=OPTIONS)
    assert plan.partition == {frozenset({"A1", "S1"}), frozenset({"A2", "A3"})}
    assert plan.info["ccgs"]["LIN"].split_sites == 0
    hard = solve_plan(graph, options=OPTIONS, rules=Rules(keep_sites=True))
    assert hard.partition == plan.partition


def test_stay_close_prefers_current_pcns(tmp_path, build):
    """Both {A1,A2},{A3,A4} and {A1},{A2,A3},{A4}-style plans... only moves decide between equals."""
    practices, boundaries = line(tmp_path, [16_000, 16_000, 16_000, 16_000, 16_000, 16_000])
    graph = build(practices, boundaries)
    current = Plan({"A1": "x", "A2": "x", "A3": "y", "A4": "y", "A5": "z", "A6": "z"})
    rules = Rules(stages=("out_of_band", "deviation", "moves"))
    plan = solve_plan(graph, options=OPTIONS, rules=rules, current=current)
    # Three pairs are 32k each; the current pairs are kept exactly (no move).
    assert plan.partition == current.partition
    assert plan.info["ccgs"]["LIN"].stages[-1].value == 0
    with pytest.raises(PlanError, match="moves stage needs the current PCNs"):
        solve_plan(graph, options=OPTIONS, rules=rules)


def test_allow_cross_lets_a_practice_join_a_neighbouring_ccg(tmp_path, build):
    """W: A1 10k | E: EA1 25k, EA2 40k. A1 alone is out of band; allowed across, A1 joins EA1."""
    rows = grid_rows([[10_000]], ccg="WWW") + [
        dict(r, practice_code=f"E{r['practice_code']}")
        for r in grid_rows([[25_000, 40_000]], ccg="EEE", dx=1_000)
    ]
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    boundaries = read_boundaries(write_boxes(tmp_path / "b.gpkg", {"WWW": (0, 0, 1, 1), "EEE": (1, 0, 3, 1)}))
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert plan.partition == {frozenset({"A1"}), frozenset({"EA1"}), frozenset({"EA2"})}
    crossed = solve_plan(graph, options=OPTIONS, allow_cross={"A1": "EEE"})
    assert crossed.partition == {frozenset({"A1", "EA1"}), frozenset({"EA2"})}
    assert_plan_invariants(crossed, graph, allow_cross={"A1": "EEE"})
    with pytest.raises(PlanError, match="none of its neighbouring practices is in ZZZ"):
        solve_plan(graph, options=OPTIONS, allow_cross={"A1": "ZZZ"})


def test_real_slice(slice_graph):
    plan = solve_plan(slice_graph, options=SolveOptions(workers=1, processes=1, time_limit_s=0.3))
    assert_plan_invariants(plan, slice_graph)
    score = score_plan(plan, slice_graph)
    assert score.out_of_band == 0
    assert set(plan.info["ccgs"]) == {"01F", "99F", "99G"}


def test_same_seed_same_plan(slice_graph):
    options = SolveOptions(workers=2, processes=2, seed=3, time_limit_s=0.3)
    first = solve_plan(slice_graph, options=options)
    second = solve_plan(slice_graph, options=options)
    assert first.partition == second.partition
    assert first.assignment == second.assignment


def test_current_pcns_are_a_valid_input_plan(slice_practices, slice_graph):
    current = plan_from_practices(slice_practices)
    assert check_plan(current.restrict(slice_graph.nodes), slice_graph) is not None
