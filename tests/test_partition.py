from __future__ import annotations

import math
from functools import partial

import networkx as nx
import pytest

from footprint.config import DEFAULT_STAGES, Rules, SolveOptions
from footprint.errors import DataError, PlanError
from footprint.evaluate import check_plan, group_table, practices_from_graph, score_plan
from footprint.load import read_boundaries, read_practices
from footprint.partition import solve_plan
from footprint.partition.solve import check_params
from footprint.plan import Plan, plan_from_practices
from tests.conftest import grid_rows, write_boxes, write_practices

#: Tests solve with one worker, a fixed seed and tiny instances solved to optimality.
OPTIONS = SolveOptions(workers=1, processes=1, seed=0, time_limit_s=5)


def assert_plan_invariants(
    plan: Plan, graph: nx.Graph, rules: Rules | None = None, *, rural=(), **kw
) -> None:
    """Every practice once, every group connected within its CCG, the band met, exempt or explained.

    The solver's counts agree with evaluation's one band rule (group_table), every exempt
    group is explained as exempt, and no stage beats its bound.
    """
    rules = rules or Rules()
    assert sorted(plan.assignment) == sorted(graph.nodes)
    assert not plan.open_practices
    assert check_plan(plan, graph, **kw) == []
    table = group_table(plan, practices_from_graph(graph, rural=rural), rules=rules)
    results = plan.info["ccgs"].values()
    explained = {pcn: why for r in results for pcn, why in r.explanations.items()}
    for pcn, row in table.iterrows():
        assert row["in_band"] == rules.band.contains(row["list_size"])
        if not row["in_band"]:
            assert pcn in explained, (pcn, row["list_size"])
        if isinstance(row["exempt"], str):  # None, or NaN in a row of numbers, where not exempt
            assert "exempt" in explained[pcn], explained[pcn]
    assert sum(r.out_of_band for r in results) == int((~table["in_band"]).sum())
    assert sum(r.exempt for r in results) == int(table["exempt"].notna().sum())
    for result in results:
        assert result.stages[0].proven  # fewest groups breaking the band is always proven here
        assert all(s.bound <= s.value for s in result.stages)
    assert sum(r.groups for r in results) == len(table)


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
    assert [s.name for s in result.stages] == list(DEFAULT_STAGES)
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
    assert (result.out_of_band, result.exempt) == (1, 0)
    assert result.stages[2].name == "deviation" and result.stages[2].value == 10_000
    (why,) = result.explanations.values()
    assert "Grid Practice A1 (A1, 20,000)" in why and "below the band of 30,000" in why
    assert "together 65,000" in why and "proven: no plan of LIN has fewer than 1" in why


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
    """A1 12k -- A2 10k: 22k is out of band, and exempt only when both practices are rural."""
    practices, boundaries = line(tmp_path, [12_000, 10_000])
    graph = build(practices, boundaries)
    plan = solve_plan(graph, options=OPTIONS)
    assert (plan.info["ccgs"]["LIN"].out_of_band, plan.info["ccgs"]["LIN"].exempt) == (1, 0)
    rules = Rules(rural_ccgs=frozenset({"LIN"}))
    rural = solve_plan(graph, options=OPTIONS, rules=rules)
    assert rural.partition == {frozenset({"A1", "A2"})}
    result = rural.info["ccgs"]["LIN"]
    assert (result.out_of_band, result.exempt) == (1, 1)  # exempt groups are still out of band
    assert [s.value for s in result.stages[:3]] == [0, 1, 8_000]  # deviation from the band itself
    assert_plan_invariants(rural, graph, rules)
    (why,) = result.explanations.values()
    assert why.startswith("exempt (a group of rural practices") and "problem" not in why
    flagged = solve_plan(graph, options=OPTIONS, rural=["A1", "A2"])
    assert (flagged.info["ccgs"]["LIN"].out_of_band, flagged.info["ccgs"]["LIN"].exempt) == (1, 1)
    half = solve_plan(graph, options=OPTIONS, rural=["A1"])  # a group is rural only if all are
    assert (half.info["ccgs"]["LIN"].out_of_band, half.info["ccgs"]["LIN"].exempt) == (1, 0)


def grid(tmp_path, sizes, *, ccg="GRD"):
    rows = grid_rows(sizes, ccg=ccg)
    practices = read_practices(write_practices(tmp_path / "grid.csv", rows))
    box = {ccg: (0, 0, len(sizes[0]), len(sizes))}
    return practices, read_boundaries(write_boxes(tmp_path / "grid.gpkg", box))


def test_rural_waiver_does_not_change_a_plan_that_fits_the_band(tmp_path, build):
    """Every practice can sit in a 30-50k group, so the waiver changes nothing.

    ::

        A1 12k -- A2 18k -- A3 14k
        |         |         |
        B1 16k -- B2 11k -- B3 19k

    With the waiver, a 20-30k rural group is exempt but still out of band (stage 2), so
    plans of in-band groups still win.
    """
    practices, boundaries = grid(tmp_path, [[12_000, 18_000, 14_000], [16_000, 11_000, 19_000]])
    graph = build(practices, boundaries)
    plain = solve_plan(graph, options=OPTIONS)
    rules = Rules(rural_ccgs=frozenset({"GRD"}))
    waived = solve_plan(graph, options=OPTIONS, rules=rules)
    assert waived.partition == plain.partition
    assert_plan_invariants(plain, graph)
    assert_plan_invariants(waived, graph, rules)
    assert waived.info["ccgs"]["GRD"].out_of_band == 0
    assert score_plan(waived, graph, rules=rules).out_of_band == 0


def test_rural_waiver_makes_otherwise_impossible_groups_exempt(tmp_path, build):
    """A1 26k -- A2 26k: together 52k (over the band), apart 26k each (below it).

    Without the waiver the fewest groups out of band is one: the pair, 2,000 over. With it,
    each practice alone is a rural group of 20-30k, exempt, so no group breaks the rule.
    """
    practices, boundaries = line(tmp_path, [26_000, 26_000])
    graph = build(practices, boundaries)
    plain = solve_plan(graph, options=OPTIONS)
    assert plain.partition == {frozenset({"A1", "A2"})}
    rules = Rules(rural_ccgs=frozenset({"LIN"}))
    waived = solve_plan(graph, options=OPTIONS, rules=rules)
    assert waived.partition == {frozenset({"A1"}), frozenset({"A2"})}
    result = waived.info["ccgs"]["LIN"]
    assert (result.out_of_band, result.exempt) == (2, 2)
    assert [(s.name, s.value) for s in result.stages[:3]] == [
        ("out_of_band", 0),
        ("out_of_band_all", 2),
        ("deviation", 8_000),
    ]
    assert_plan_invariants(plain, graph)
    assert_plan_invariants(waived, graph, rules)
    score = score_plan(waived, graph, rules=rules)
    assert (score.out_of_band, score.exempt, score.not_exempt) == (2, 2, 0)


def test_locked_group_out_of_band_says_it_is_locked(tmp_path, build):
    """A1 20k -- A2 15k (locked alone) -- A3 15k -- A4 20k: A1 and the lock are out of band."""
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    lock = Plan({"A2": "agreed"})
    plan = solve_plan(graph, options=OPTIONS, lock=lock)
    assert plan.partition == {frozenset({"A1"}), frozenset({"A2"}), frozenset({"A3", "A4"})}
    assert_plan_invariants(plan, graph)
    result = plan.info["ccgs"]["LIN"]
    assert (result.out_of_band, result.exempt, result.stages[0].value) == (2, 0, 2)
    (locked,) = [w for w in result.explanations.values() if w.startswith("locked group")]
    assert "out of band: 15,000 below 30,000-50,000" in locked and "(A2, 15,000)" in locked
    approved = solve_plan(graph, options=OPTIONS, lock=lock, approved=["agreed"])
    assert approved.partition == plan.partition
    result = approved.info["ccgs"]["LIN"]
    assert (result.out_of_band, result.exempt) == (2, 1)
    assert result.stages[0].value == 1  # only A1 breaks the rule; the approved lock does not
    (locked,) = [w for w in result.explanations.values() if w.startswith("locked group")]
    assert "exempt (approved by the commissioner" in locked


def test_params_are_parsed_and_bad_ones_named(tmp_path, build):
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    options = SolveOptions(workers=1, processes=1, params="linearization_level:2 cp_model_probing_level:0")
    plan = solve_plan(graph, options=options)
    assert plan.partition == {frozenset({"A1", "A2"}), frozenset({"A3", "A4"})}
    check_params("")
    with pytest.raises(
        DataError, match=r"CP-SAT parameter 'linearization_level:fast' is not valid: bad value"
    ):
        solve_plan(graph, options=SolveOptions(params="num_workers:1 linearization_level:fast"))
    with pytest.raises(DataError, match="no CP-SAT parameter is called 'speed'"):
        check_params("speed:11")


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
    # A lock that splits the building cannot be honoured: the building is named.
    split = Plan({"A1": "agreed", "A2": "agreed"})
    with pytest.raises(PlanError, match=r"the building of Grid Practice A1 \(A1\), Shared \(S1\) in CCG LIN"):
        solve_plan(graph, options=OPTIONS, rules=Rules(keep_sites=True), lock=split)


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


def test_one_stage_registry_covers_every_stage_and_agrees_with_the_rule():
    from footprint.config import STAGES
    from footprint.partition._tree_cut import GROUP_BONUS, _closing_cost, _closing_table, group_cost
    from footprint.partition.stages import STAGE_REGISTRY

    assert tuple(STAGE_REGISTRY) == STAGES
    rules = Rules(rural_floor=20_000)
    sizes = range(0, 120_001, 250)  # past the table's end too
    for rural in (False, True):
        table = _closing_table(rules, rural)
        tabled = [_closing_cost(rules, table, float(s), rural=rural) + GROUP_BONUS for s in sizes]
        scalar = [group_cost(rules, s, practices=2, rural=rural) for s in sizes]
        assert tabled == pytest.approx(scalar, abs=1e-9)
    assert group_cost(rules, 25_000, practices=2, rural=True) < group_cost(
        rules, 25_000, practices=2, rural=False
    )


# --------------------------------------------------------------------------------------
# Stranding, pairs and locks no plan can honour
# --------------------------------------------------------------------------------------


def test_a_proposal_strands_the_practices_at_both_ends(tmp_path, build):
    """A1 15k -- A2 15k -- A3 15k -- A4 15k: proposing {A2,A3} leaves A1 and A4 alone below the floor.

    With nothing agreed, {A1,A2},{A3,A4} puts every group in band: the proposal raises the
    least number of groups out of band from 0 to 2, and releasing A3 while taking in A1 frees both.
    """
    from footprint.partition import strands

    practices, boundaries = line(tmp_path, [15_000] * 4)
    graph = build(practices, boundaries)
    report = strands(graph, proposal=["A2", "A3"], options=OPTIONS)
    result = report.ccgs["LIN"]
    assert (result.baseline.value, result.least.value, result.rise) == (0, 2, 2)
    assert result.stranded == ("A1", "A4") and result.at_risk == ()
    assert result.proven and result.strands
    assert {(c.kind, c.practice) for c in result.changes} == {("release", "A3"), ("admit", "A1")}
    completion = report.completion
    assert completion.partition == {frozenset({"A1"}), frozenset({"A2", "A3"}), frozenset({"A4"})}
    rows = report.findings()
    assert {(r[2], r[3], r[4]) for r in rows} == {("A1", "stranded", "error"), ("A4", "stranded", "error")}
    assert "raise LIN's least number of new groups out of band from 0 to 2" in rows[0][5]


def test_a_proposal_that_leaves_practices_only_at_risk(tmp_path, build):
    """A1 40k -- A2 20k -- A3 20k -- A4 20k: one group must be out of band whatever is agreed.

    Proposing {A1}: {A2,A3}+{A4}, {A2}+{A3,A4} and {A2,A3,A4} each have one bad group, so
    every open practice is at risk and none is stranded; nothing rises.
    """
    from footprint.partition import strands

    practices, boundaries = line(tmp_path, [40_000, 20_000, 20_000, 20_000])
    graph = build(practices, boundaries)
    result = strands(graph, proposal=["A1"], options=OPTIONS).ccgs["LIN"]
    assert (result.baseline.value, result.least.value, result.rise) == (1, 1, 0)
    assert result.stranded == () and result.at_risk == ("A2", "A3", "A4")
    assert not result.strands and result.changes == ()


def test_a_proposal_that_strands_nobody(tmp_path, build):
    from footprint.partition import strands

    practices, boundaries = line(tmp_path, [15_000] * 4)
    graph = build(practices, boundaries)
    result = strands(graph, proposal=["A1", "A2"], options=OPTIONS).ccgs["LIN"]
    assert (result.least.value, result.stranded, result.at_risk) == (0, (), ())
    assert not result.strands


def test_stranded_practice_with_no_release_needs_an_exception(tmp_path, build):
    """A1 10k -- A2 45k: A2 agreed alone; A1 can only join A2 (55k, above) or stay alone (below)."""
    from footprint.partition import strands

    practices, boundaries = line(tmp_path, [10_000, 45_000])
    graph = build(practices, boundaries)
    result = strands(graph, lock=Plan({"A2": "agreed"}), options=OPTIONS).ccgs["LIN"]
    assert result.stranded == ("A1",)
    assert result.rise == 0  # even with nothing agreed, one group must be out of band
    (change,) = result.changes
    assert change.kind == "exception" and "only a commissioner's exception would" in change.text


def test_proposal_errors_are_named(tmp_path, build):
    from footprint.partition import strands

    practices, boundaries = line(tmp_path, [15_000] * 4)
    graph = build(practices, boundaries)
    with pytest.raises(DataError, match="the proposal names no practice"):
        strands(graph, proposal=[" "], options=OPTIONS)
    with pytest.raises(DataError, match="the proposal names practice\\(s\\) not in the practices file: ZZ1"):
        strands(graph, proposal=["A1", "ZZ1"], options=OPTIONS)
    with pytest.raises(PlanError, match=r"the proposal is not one connected group: .* 2 pieces \(A1; A3\)"):
        strands(graph, proposal=["A1", "A3"], options=OPTIONS)


def test_apart_and_together_pairs_shape_the_plan(tmp_path, build):
    """A1 20k -- A2 15k -- A3 15k -- A4 20k: the best plan pairs A1-A2; keeping them apart changes it."""
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    apart = solve_plan(graph, options=OPTIONS, apart=[("A1", "A2")])
    assert all(not {"A1", "A2"} <= g for g in apart.partition)
    together = solve_plan(graph, options=OPTIONS, together=[("A2", "A3")])
    assert any({"A2", "A3"} <= g for g in together.partition)
    assert check_plan(together, graph) == []


def test_pair_and_lock_errors_are_named(tmp_path, build):
    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 55_000])
    graph = build(practices, boundaries)
    with pytest.raises(DataError, match="pair\\(s\\) A1-A2 are to be kept both apart and together"):
        solve_plan(graph, options=OPTIONS, apart=[("A1", "A2")], together=[("A2", "A1")])
    with pytest.raises(
        DataError, match="pairs to keep apart name practice\\(s\\) not in the practices file: ZZ9"
    ):
        solve_plan(graph, options=OPTIONS, apart=[("A1", "ZZ9")])
    lock = Plan({"A1": "x", "A2": "x"})
    with pytest.raises(
        PlanError, match=r"locked group x of CCG LIN cannot be honoured .* a pair to keep apart"
    ):
        solve_plan(graph, options=OPTIONS, lock=lock, apart=[("A1", "A2")])
    with pytest.raises(
        PlanError, match="holds A2 but not A3, a pair to keep together, and a locked group takes"
    ):
        solve_plan(graph, options=OPTIONS, lock=lock, together=[("A2", "A3")])
    with pytest.raises(PlanError, match=r"locked group y .* over 50,000 and must stand alone"):
        solve_plan(graph, options=OPTIONS, lock=Plan({"A3": "y", "A4": "y"}))


def test_together_across_ccgs_is_refused(tmp_path, build):
    rows = grid_rows([[10_000]], ccg="WWW") + [
        dict(r, practice_code=f"E{r['practice_code']}") for r in grid_rows([[25_000]], ccg="EEE", dx=1_000)
    ]
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    boundaries = read_boundaries(write_boxes(tmp_path / "b.gpkg", {"WWW": (0, 0, 1, 1), "EEE": (1, 0, 2, 1)}))
    graph = build(practices, boundaries)
    with pytest.raises(PlanError, match="are to be kept together, but a PCN may not cross its CCG"):
        solve_plan(graph, options=OPTIONS, together=[("A1", "EA1")])


def test_stranding_on_the_real_slice(slice_practices, slice_graph):
    """Southend's current PCNs agreed, the Rahman Practice (4,287 patients, open) is stranded in 99F."""
    from footprint.partition import strands

    current = plan_from_practices(slice_practices).restrict(slice_graph.nodes)
    report = strands(slice_graph, lock=current, ccgs=["99F"], options=OPTIONS)
    result = report.ccgs["99F"]
    assert result.stranded == ("F81700",) and result.rise == 1
    assert result.changes and all(c.practice == "F81700" for c in result.changes if c.kind == "admit")


# --------------------------------------------------------------------------------------
# Speed (issue 15) and --stay-close keeping its word (issue 9, point 6)
# --------------------------------------------------------------------------------------


def _slice_current(slice_practices, slice_graph) -> Plan:
    return plan_from_practices(slice_practices).restrict(slice_graph.nodes)


def _moved_per_ccg(current: Plan, plan: Plan, slice_practices) -> dict[str, int]:
    from footprint.plan import transfer_distance

    return {
        ccg: transfer_distance(current.restrict(codes), plan.restrict(codes))
        for ccg, codes in slice_practices.groupby("ccg_code").groups.items()
    }


def test_moves_stage_value_is_the_transfer_distance_achieved(slice_practices, slice_graph):
    current = _slice_current(slice_practices, slice_graph)
    rules = Rules(stages=(*DEFAULT_STAGES[:-1], "moves", DEFAULT_STAGES[-1]))
    plan = solve_plan(slice_graph, rules=rules, options=OPTIONS, current=current)
    assert_plan_invariants(plan, slice_graph, rules)
    moved = _moved_per_ccg(current, plan, slice_practices)
    for ccg, result in plan.info["ccgs"].items():
        stage = next(s for s in result.stages if s.name == "moves")
        assert stage.value == moved[ccg], ccg
        assert stage.bound <= stage.value


@pytest.mark.parametrize("time_limit_s", [0.01, 0.3])
def test_stay_close_never_moves_more_than_without_it(slice_practices, slice_graph, time_limit_s):
    current = _slice_current(slice_practices, slice_graph)
    options = SolveOptions(workers=1, processes=1, seed=0, time_limit_s=time_limit_s)
    without = solve_plan(slice_graph, options=options)
    rules = Rules(stages=(*DEFAULT_STAGES[:-1], "moves", DEFAULT_STAGES[-1]))
    close = solve_plan(slice_graph, rules=rules, options=options, current=current)
    moved, moved_without = (_moved_per_ccg(current, p, slice_practices) for p in (close, without))
    assert all(moved[ccg] <= moved_without[ccg] for ccg in moved), (moved, moved_without)
    # ... and the stages before the moves stage are no worse than without it.
    for ccg, result in close.info["ccgs"].items():
        for stage, free in zip(result.stages[:4], without.info["ccgs"][ccg].stages[:4], strict=True):
            assert stage.value <= free.value, (ccg, stage)


def test_fast_returns_the_first_valid_plan_and_says_what_is_proven(slice_graph):
    fast = solve_plan(slice_graph, options=SolveOptions(processes=1, fast=True))
    assert_plan_invariants(fast, slice_graph)
    for result in fast.info["ccgs"].values():
        assert result.stages[0].proven
        for stage in result.stages[1:]:
            assert stage.seconds == 0.0  # evaluated, not searched
            assert stage.proven == (stage.value <= stage.bound)
    assert score_plan(fast, slice_graph).out_of_band == 0


def test_warm_start_meets_a_bound_that_needs_a_building_split():
    """Five practices in a row, the first three in one building: only a split puts both groups in band."""

    from footprint.partition.stages import STAGE_REGISTRY, Grouping
    from footprint.partition.warmstart import warm_start

    inst = _grid_instance([[20_000, 20_000, 20_000, 20_000, 5_000]], sites=[[0, 1, 2]])
    stage = STAGE_REGISTRY["out_of_band"]
    bound = stage.lower_bound(inst, {})
    assert bound == 0
    assert stage.evaluate(Grouping(inst, warm_start(inst, seed=0))) > 0  # the building kept whole
    assert stage.evaluate(Grouping(inst, warm_start(inst, seed=0, target=bound))) == 0


def _real_instances(ccgs: list[str]) -> dict:
    """Return the instances of real CCGs as England's graph joins them (rural practices not waived)."""
    from dataclasses import replace

    from footprint.graph import ccg_subgraph, graph_from_practices
    from footprint.partition._instance import PlanInputs, instances_from_graph

    graph = graph_from_practices(read_practices(), read_boundaries())
    return {
        ccg: replace(inst, rural=[False] * inst.n)
        for ccg in ccgs
        for inst in instances_from_graph(ccg_subgraph(graph, ccg), Rules(), PlanInputs())
    }


def test_warm_start_tries_more_trees_before_it_splits_a_building():
    """Birmingham and Solihull (15C), seed 8: the first trees leave a group out of band; four
    times the trees with buildings whole meet the bound, so the first plan splits no building
    (splitting first, it split one, and that stage was left unproven)."""
    from footprint.graph import ccg_subgraph, graph_from_practices

    practices = read_practices()
    graph = graph_from_practices(practices, read_boundaries())
    sub = ccg_subgraph(graph, "15C")
    rural = set(practices.index[practices["rural"]]) & set(sub)
    plan = solve_plan(sub, options=SolveOptions(processes=1, fast=True, seed=8), rural=rural)
    (result,) = plan.info["ccgs"].values()
    stages = {s.name: s for s in result.stages}
    assert stages["out_of_band"].proven and result.split_sites == 0 and stages["split_sites"].proven


def test_recombination_meets_the_bound_within_two_rings():
    """Derbyshire (D9Y0V), seeds 0-7: the recombination reaches the first stage's bound; confined
    to one ring around a group out of band it did not (CP-SAT had to search, up to 5 s)."""
    from footprint.partition.stages import STAGE_REGISTRY, Grouping
    from footprint.partition.warmstart import warm_start

    (inst,) = _real_instances(["D9Y0V"]).values()
    bound = STAGE_REGISTRY["out_of_band"].lower_bound(inst, {})
    for seed in range(8):
        labels = warm_start(inst, seed=seed, target=bound)
        assert STAGE_REGISTRY["out_of_band"].evaluate(Grouping(inst, labels)) == bound, seed


def test_a_part_that_no_grouping_can_put_in_band_raises_the_first_bound():

    from footprint.partition._instance import Instance
    from footprint.partition.stages import lower_bound

    # P1 (over the band) stands alone and cuts P0 (20,000) off from P2-P3 (70,000).
    inst = Instance(
        ccg="T",
        codes=["P0", "P1", "P2", "P3"],
        names=["P0", "P1", "P2", "P3"],
        sizes=[20_000, 60_000, 35_000, 35_000],
        xy=[(1000.0 * i, 0.0) for i in range(4)],
        edges=[(0, 1), (1, 2), (2, 3)],
        bridges={},
        sites=[],
        big=[False, True, False, False],
        rural=[False] * 4,
        locked=[],
        current=None,
        rules=Rules(),
    )
    assert lower_bound("out_of_band", inst, {}) == 1.0


def test_compactness_recombination_keeps_the_band_and_lowers_the_spread(slice_graph):
    from functools import partial

    from footprint.partition._instance import PlanInputs, instances_from_graph
    from footprint.partition.stages import stage_values
    from footprint.partition.warmstart import recombine_compact, warm_start
    from footprint.plan import Plan

    for inst in instances_from_graph(slice_graph, Rules(), PlanInputs()):
        start = warm_start(inst, seed=0)
        values = partial(stage_values, inst, stages=DEFAULT_STAGES)
        better = recombine_compact(inst, start, seed=0)
        before, after = values(start), values(better)
        assert all(after[s] <= before[s] for s in DEFAULT_STAGES[:4]), inst.ccg
        plan = Plan({code: str(better[i]) for i, code in enumerate(inst.codes)})
        assert check_plan(plan, slice_graph.subgraph(inst.codes)) == []


def _grid_instance(
    sizes: list[list[int]], *, sites: list[list[int]] | None = None, big: frozenset[int] = frozenset()
):
    """An instance of practices on a grid 1 km apart (rook neighbours), row by row."""

    from footprint.partition._instance import Instance

    rows, cols = len(sizes), len(sizes[0])
    n = rows * cols
    edges = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    edges += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    return Instance(
        ccg="T",
        codes=[f"P{i}" for i in range(n)],
        names=[f"P{i}" for i in range(n)],
        sizes=[s for row in sizes for s in row],
        xy=[(1000.0 * (i % cols), 1000.0 * (i // cols)) for i in range(n)],
        edges=sorted(edges),
        bridges={},
        sites=sites or [],
        big=[i in big for i in range(n)],
        rural=[False] * n,
        locked=[],
        current=None,
        rules=Rules(),
    )


@pytest.mark.parametrize(
    ("sizes", "sites", "big"),
    [
        ([[10_000, 12_000, 9_000], [14_000, 20_000, 8_000], [11_000, 9_000, 13_000]], None, frozenset()),
        ([[20_000, 15_000, 15_000], [9_000, 30_000, 11_000]], [[1, 4]], frozenset()),
        ([[20_000, 60_000, 15_000], [25_000, 6_000, 30_000]], None, frozenset({1})),
    ],
)
def test_tiny_ccgs_find_the_models_least_compactness_by_enumeration(sizes, sites, big, monkeypatch):
    """The enumeration's compactness equals CP-SAT's proven optimum on the model, stage values alike."""
    from functools import partial

    from footprint.partition import solve
    from footprint.partition.model import build_model
    from footprint.partition.solve import ModelOnDemand, run_stages
    from footprint.partition.warmstart import warm_start

    found = []
    enumerate_ = solve._least_compactness
    monkeypatch.setattr(
        solve, "_least_compactness", lambda *a, **k: found.append(enumerate_(*a, **k)) or found[-1]
    )

    inst = _grid_instance(sizes, sites=sites, big=big)
    stages = inst.rules.stages
    options = SolveOptions(processes=1, time_limit_s=30)
    build = partial(build_model, inst, stages=stages)
    start = warm_start(inst, seed=0, target=0)
    enumerated, by_enumeration = run_stages(ModelOnDemand(inst, build), start, stages, options)
    assert len(found) == 1 and found[0] is not None  # compactness enumerated, not searched
    _, by_search = run_stages(build(), start, stages, options)  # a built model: CP-SAT searches
    assert [(s.name, s.status) for s in by_enumeration] == [(s.name, "OPTIMAL") for s in by_search]
    assert [s.value for s in by_enumeration] == pytest.approx([s.value for s in by_search])
    assert all(s.proven for s in by_search)
    members = {}
    for i, label in enumerate(enumerated):
        members.setdefault(label, []).append(i)
    assert all(len(members[enumerated[i]]) == 1 for i in big)


def test_an_enumeration_past_its_budget_gives_way_to_the_model():
    from footprint.partition.solve import _least_compactness

    inst = _grid_instance([[10_000, 12_000, 9_000], [14_000, 20_000, 8_000], [11_000, 9_000, 13_000]])
    start = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert _least_compactness(inst, {}, start, budget=5) is None
    labels, value, _ = _least_compactness(inst, {}, start)
    assert value == 0.0 and len(set(labels)) == inst.n  # with nothing fixed, every practice alone


@pytest.mark.parametrize(
    "sizes",
    [
        [[31_430, 5_131, 14_249], [30_255, 11_756, 19_113], [3_587, 2_719, 3_459]],
        [[12_000, 9_000, 21_000], [8_000, 33_000, 7_000], [16_000, 14_000, 11_000]],
        [[25_000, 4_000, 26_000], [6_000, 3_000, 5_000]],
    ],
)
def test_a_tiny_ccgs_warm_start_weighs_every_grouping(sizes):
    """Few free units: the warm start is the grouping the band stages would choose (CP-SAT agrees)."""
    from functools import partial

    from footprint.partition.model import build_model
    from footprint.partition.solve import run_stages
    from footprint.partition.stages import stage_values
    from footprint.partition.warmstart import EXACT_UNITS, warm_start

    inst = _grid_instance(sizes)
    assert inst.n <= EXACT_UNITS
    band_stages = ("out_of_band", "out_of_band_all", "deviation")
    start = warm_start(inst, seed=0)
    model = partial(build_model, inst, stages=inst.rules.stages)()
    _, searched = run_stages(model, start, band_stages, SolveOptions(processes=1, time_limit_s=30))
    assert all(s.proven for s in searched)
    assert stage_values(inst, start, band_stages) == {s.name: s.value for s in searched}


def _unbounded_optimum(inst, stages=DEFAULT_STAGES):
    """Return each stage's proven least value by CP-SAT alone, every bound but its own removed."""
    from dataclasses import replace

    from footprint.partition.model import build_model
    from footprint.partition.solve import run_stages
    from footprint.partition.stages import STAGE_REGISTRY
    from footprint.partition.warmstart import warm_start

    plain = {k: replace(s, lower_bound=lambda *_: None) for k, s in STAGE_REGISTRY.items()}
    options = SolveOptions(processes=1, time_limit_s=30, proof_limit_s=30)
    model = build_model(inst, stages=stages)
    labels, found = run_stages(model, warm_start(inst, seed=0), stages, options, registry=plain)
    assert all(s.proven for s in found[:-1])
    return labels, found


def _sparse_instance(sizes, edges, xy, locked=()):
    """An instance of practices on the given edges (those over 50,000 stand alone)."""
    from footprint.partition._instance import Instance

    n, codes = len(sizes), [f"P{i}" for i in range(len(sizes))]
    big = [s > 50_000 for s in sizes]
    return Instance(
        "S", codes, codes, sizes, xy, sorted(edges), {}, [], big, [False] * n, [*locked], None, Rules()
    )


def test_an_island_that_no_grouping_puts_in_band_is_proven_from_its_bridge():
    """M0 -- M1 -- M2 -- M3 ==bridge== H, and coves L1, L2 that touch only H (the island's port).

    Totals allow every group in band (135k in 3 or 4 groups), but the coves (25k each) can
    only join H (5k): one of them stands alone below the band, or both with H above it,
    whatever crosses the bridge. The island's piece proves 1, as CP-SAT does; the warm
    start meets it, so stage 1 needs no search.
    """
    from footprint.partition.solve import solve_instance
    from footprint.partition.stages import _can_be_in_band, _free_parts, lower_bound

    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (4, 6)]
    xy = [(1e3 * i, 0.0) for i in range(5)] + [(5e3, 1e3), (5e3, -1e3)]
    inst = _sparse_instance([20_000] * 4 + [5_000] + [25_000] * 2, edges, xy)
    assert all(_can_be_in_band(inst, part) for part in _free_parts(inst))  # totals alone say 0
    assert lower_bound("out_of_band", inst, {}) == 1.0
    assert _unbounded_optimum(inst)[1][0].value == 1.0
    _, result = solve_instance(inst, OPTIONS)
    assert result.stages[0].value == 1.0 and result.stages[0].proven and result.stages[0].seconds == 0.0


def test_a_practice_reached_only_through_its_neighbour_is_bounded_with_it(monkeypatch):
    """A (18,817) -- B (33,288) -- a ring of seven (146k): A alone is below the band, and with B above.

    A's piece is cut off by B, so the one group that reaches A from outside holds B: the
    piece's open part counts with its cut practice (before, alone: bound 0, and CP-SAT did
    not prove the 1 in 200 s on a Sussex CCG so laid out). Two parts of a piece joined
    only through the cut practice are one open part.
    """
    from footprint.partition import _pieces
    from footprint.partition.solve import solve_instance
    from footprint.partition.stages import StageResult, lower_bound

    sizes = [18_817, 33_288, 14_446, 23_307, 8_886, 20_000, 20_000, 20_000, 20_000]
    edges = [(0, 1), (1, 2), (1, 3), (1, 4), (2, 3), (3, 4), (2, 5), (3, 6), (4, 7), (5, 6), (6, 7)]
    edges += [(7, 8), (5, 8)]
    xy = [(0.0, 0.0), (1e3, 0.0), (2e3, 1e3), (2e3, 0.0), (2e3, -1e3), (3e3, 1e3), (3e3, 0.0)]
    inst = _sparse_instance(sizes, edges, [*xy, (3e3, -1e3), (4e3, 0.0)])
    assert lower_bound("out_of_band", inst, {}) == 1.0  # was 0: the totals allow every group in band
    one = {s: StageResult(s, 1.0, 1.0, "OPTIMAL", 0.0) for s in ("out_of_band", "out_of_band_all")}
    assert lower_bound("deviation", inst, one) == 2_105.0
    _, result = solve_instance(inst, OPTIONS)
    assert [s.value for s in result.stages[:3]] == [1.0, 1.0, 2_105.0]
    assert all(s.proven for s in result.stages[:3]) and result.stages[0].seconds == 0.0
    # Two parts (3k with 25k and 1k beyond it, and 9k) of the piece the cut practice (3k) cuts
    # off, apart but for it and a practice over the band: all five make one group in band
    # (41k), as no bound may rule out (counting one open part only, the bound said 1).
    fork = partial(
        _sparse_instance,
        [55_000, 3_000, 3_000, 9_000, 25_000, 55_000, 1_000],
        [(0, 1), (0, 3), (1, 2), (2, 3), (1, 4), (2, 5), (4, 6)],
        [(0.0, 0.0), (1e3, 0.0), (2e3, 0.0), (1e3, 1e3), (1e3, -1e3), (3e3, 0.0), (1e3, -2e3)],
    )
    assert lower_bound("out_of_band", fork(), {}) == 0.0
    # The same from the enumeration of the piece's groupings, without the zero-cost shortcut.
    monkeypatch.setattr(_pieces, "_fits_band", lambda *_args: False)
    assert lower_bound("out_of_band", fork(), {}) == 0.0


def test_a_practice_in_no_group_in_band_proves_stage_one_without_search():
    """L (14,251) -- N (15,450) -- B (40,000) -- C (45,000), as Devon's L83055 on varied 2025 sizes.

    L's only group in reach of the floor holds N, and then B: 29,701 or 69,701. The totals
    (114,701: three groups in band) and the pieces (a group may join L and N from outside)
    allow 0; no group that breaks no rule holds L, so the covers prove 1 at once.
    Before, CP-SAT searched (Devon's 117 practices: not proven in 300 s).
    """
    from footprint.partition.solve import solve_instance
    from footprint.partition.stages import STAGE_REGISTRY, lower_bound

    inst = _sparse_instance(
        [14_251, 15_450, 40_000, 45_000],
        [(0, 1), (1, 2), (1, 3)],
        [(0.0, 0.0), (1e3, 0.0), (2e3, 0.0), (1e3, 1e3)],
    )
    assert lower_bound("out_of_band", inst, {}) == 0.0
    assert STAGE_REGISTRY["out_of_band"].stronger(inst, {}, [0, 0, 1, 2]) == 1.0
    _, result = solve_instance(inst, OPTIONS)
    assert result.stages[0].value == 1.0 and result.stages[0].proven and result.stages[0].seconds == 0.0


def test_three_practices_that_share_two_neighbours_prove_stage_one_from_the_covers(monkeypatch):
    """A, B, C (25k each) touch only D and E (10k each, neighbours), which touch F (35k).

    Every practice lies in a group in band ({A, D}, ...), no practice cuts the CCG apart,
    and the totals (115k) allow three groups in band; but each group in band holding a leaf
    holds a hub, and two hubs serve three leaves. The region grown from the plan's group out
    of band finds no fractional cover (prices: 1 on the leaves, -1 on the hubs), so stage 1
    is proven at 1 without a search. Where a cover exists (the same without C), or a rural
    pair makes an exempt group, or the budget is spent, nothing is proven.
    """
    from dataclasses import replace

    from footprint.partition import _band_cover
    from footprint.partition._band_cover import uncoverable
    from footprint.partition.solve import solve_instance
    from footprint.partition.stages import lower_bound

    edges = [(0, 3), (0, 4), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4), (3, 5), (4, 5)]
    xy = [(0.0, 1e3), (0.0, 0.0), (0.0, -1e3), (1e3, 0.5e3), (1e3, -0.5e3), (2e3, 0.0)]
    inst = _sparse_instance([25_000] * 3 + [10_000] * 2 + [35_000], edges, xy)
    assert lower_bound("out_of_band", inst, {}) == 0.0
    assert uncoverable(inst, [0, 1, 2, 0, 1, 3], [list(range(6))]) == [list(range(6))]
    _, result = solve_instance(inst, OPTIONS)
    assert result.stages[0].value == 1.0 and result.stages[0].proven and result.stages[0].seconds == 0.0
    # Without C: {A, D}, {B, E}, {F}.
    five = inst.restrict([0, 1, 3, 4, 5])
    assert uncoverable(five, [0, 0, 1, 1, 1], [list(range(5))]) == []
    # 12k -- 12k -- 40k: a group of three is too large, so one of two is below the band,
    # unless the two are rural (24k: exempt from the floor of 20k).
    line = _sparse_instance([12_000, 12_000, 40_000], [(0, 1), (1, 2)], [(0.0, 0.0), (1e3, 0.0), (2e3, 0.0)])
    assert uncoverable(line, [0, 0, 0], [[0, 1, 2]]) == [[0, 1, 2]]
    assert uncoverable(replace(line, rural=[True, True, False]), [0, 0, 0], [[0, 1, 2]]) == []
    # A practice over the band not standing alone by rule (repair frees one that shares its
    # existing group) breaks no rule alone: 60k and 40k cover their part.
    large = _sparse_instance([60_000, 40_000], [(0, 1)], [(0.0, 0.0), (1e3, 0.0)])
    assert uncoverable(replace(large, big=[False, False]), [0, 0], [[0, 1]]) == []
    monkeypatch.setattr(_band_cover, "COVER_GROUPS", 1)
    assert uncoverable(line, [0, 0, 0], [[0, 1, 2]]) == []
    monkeypatch.setattr(_band_cover, "COVER_GROUPS", 5)
    assert uncoverable(inst, [0, 1, 2, 0, 1, 3], [list(range(6))]) == []


def test_a_practice_whose_one_neighbour_is_too_small_proves_the_least_deviation():
    """A (15,000) reaches the rest only through B (14,700); B's other neighbours are 40,000 each.

    Totals allow three groups in band (145,700), and neither the totals nor the pieces give
    a deviation above 0. A group holding A holds B, and {A, B} is 300 below the band while
    any larger is far above: every plan deviates 300 at least, which the covers prove from
    any plan (the groups within the plan's deviation of the band cover nothing better).
    """
    from dataclasses import replace

    from footprint.partition.stages import STAGE_REGISTRY, StageResult

    grid = _grid_instance([[15_000, 14_700, 40_000, 40_000, 36_000]])
    inst = replace(grid, edges=[(0, 1), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)])
    done = {s: StageResult(s, 1.0, 1.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:2]}
    deviation = STAGE_REGISTRY["deviation"]
    assert deviation.lower_bound(inst, done) == 0.0
    assert deviation.stronger is not None
    for labels in ([0, 0, 1, 2, 3], [0, 0, 0, 1, 2], [0, 1, 1, 2, 3]):
        assert deviation.stronger(inst, done, labels) == 300.0


def test_the_covers_programme_counts_the_units_outside_its_region_once_at_most():
    """Region {A, B}; A and B each lie only in a group with X, outside the region: X is taken
    once at most, so the region falls one unit short (prices 1 on A and B, -1 on X); with a
    group of Y for B instead, nothing is short."""
    import numpy as np

    from footprint.partition._band_cover import _shortfall

    region = np.array([True, True, False, False])  # A, B, X, Y
    # Groups {A, X} and {B, X}: the units each holds, group by group.
    assert _shortfall(np.array([0, 2, 1, 2]), np.array([2, 2]), region) == pytest.approx(1.0)
    # Groups {A, X} and {B, Y}.
    assert _shortfall(np.array([0, 2, 1, 3]), np.array([2, 2]), region) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("data", "seed", "breaking"),
    [("2025-10", 2, {"L83055", "L83103"}), ("2022-01", 9, {"L83118", "L83131"})],
)
def test_a_devon_with_list_sizes_no_year_has_had_is_proven_at_once(
    tmp_path, monkeypatch, data, seed, breaking
):
    """15N, every list size of a snapshot times a log-normal factor (0.1, seed 2 or 9).

    The plan's one group out of band is the least, which CP-SAT alone neither bettered nor
    proved in 300 s (2025) or 60 s (2022). On 2025 L83055 lies in no connected group in band
    (the group below: L83055 and L83103, 29,701). On 2022 every practice lies in one, and
    the groups in band number 208,419, more than the budget; but around the group above
    the band (L83118 and L83131, 50,321) no cover takes each practice once: five practices
    settle it (L83014, L83055 and L83131 against L83103 and L83607). The covers prove both
    without a search, the second also within a tenth of the budget; and the same covers,
    the groups costing their deviation, prove the group's deviation (299 and 321) the least.
    """
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    from footprint.graph import graph_from_practices
    from footprint.load import SNAPSHOTS
    from footprint.partition import _band_cover

    monkeypatch.setattr(_band_cover, "COVER_GROUPS", 20_000)
    snapshot = SNAPSHOTS[data]
    rows = pd.read_csv(snapshot.practices, dtype=str, keep_default_na=False)
    factor = np.random.default_rng(seed).lognormal(0.0, 0.1, len(rows))
    rows["list_size"] = np.maximum(1, np.round(rows["list_size"].astype(float) * factor)).astype(int)
    rows[rows["ccg_code"] == "15N"].to_csv(tmp_path / "varied.csv", index=False)
    practices = read_practices(tmp_path / "varied.csv")
    graph = graph_from_practices(practices, read_boundaries(snapshot.boundaries))
    plan = solve_plan(graph, options=replace(OPTIONS, proof_limit_s=10))
    assert_plan_invariants(plan, graph)
    first, _, deviation = plan.info["ccgs"]["15N"].stages[:3]
    assert first.value == 1.0 and first.proven and first.seconds == 0.0
    (group,) = [g for g in plan.partition if g & breaking]
    assert group == breaking
    # The group's deviation is the least too (none of the groups within it of the band cover).
    assert deviation.proven and deviation.seconds == 0.0


@pytest.mark.parametrize("kept", [2_000, 3])
@pytest.mark.parametrize("seed", range(10))
def test_piece_and_compactness_bounds_never_pass_the_optimum(seed, kept, monkeypatch):
    """Random sparse instances (cut practices, big practices, a lock): every bound is real.

    Also with the set partitioning's groups cut to 3 (its windows capped, the bound raised
    by what the groups left out must cost).
    """
    import random

    from footprint.partition import _compactness

    monkeypatch.setattr(_compactness, "KEPT_GROUPS", kept)

    from footprint.partition._compact_bound import compactness_bound
    from footprint.partition._compactness import least_compactness
    from footprint.partition._instance import model_compactness
    from footprint.partition._split_bound import whole_cover
    from footprint.partition.solve import _least_compactness
    from footprint.partition.stages import STAGE_REGISTRY, Grouping
    from footprint.partition.warmstart import units_of

    rng = random.Random(seed)
    n = rng.randrange(6, 10)
    edges = {(rng.randrange(i), i) for i in range(1, n)} | {(rng.randrange(i), i) for i in range(2, n, 3)}
    sizes = [rng.choice([3_000, 9_000, 15_000, 25_000, 35_000, 55_000]) for _ in range(n)]
    lock = [[a, b] for a, b in sorted(edges)[:1] if sizes[a] + sizes[b] < 50_000]
    inst = _sparse_instance(
        sizes, edges, [(rng.uniform(0, 5e3), rng.uniform(0, 5e3)) for _ in range(n)], lock
    )
    labels, found = _unbounded_optimum(inst)
    done = {}
    for result in found[:-1]:
        assert STAGE_REGISTRY[result.name].lower_bound(inst, done) <= result.value, result.name
        done[result.name] = result
    # The covers' bounds, from every practice alone (each below the band a start) and from
    # the optimum: real bounds (the deviation's holds without the stages before it).
    for start in (list(range(n)), labels):
        assert STAGE_REGISTRY["out_of_band"].stronger(inst, {}, start) <= found[0].value
        assert STAGE_REGISTRY["deviation"].stronger(inst, {}, start) <= found[2].value
    # The deviation's own search, from every practice alone (a locked group together): a
    # plan that keeps the stages before, never below the least.
    search = STAGE_REGISTRY["deviation"].search
    fewer, _ = search(inst, {r.name: r for r in found[:2]}, units_of(inst, sites=False)[0], seed=0)
    if fewer is not None:
        grouping = Grouping(inst, fewer)
        assert all(STAGE_REGISTRY[r.name].evaluate(grouping) <= r.value for r in found[:2])
        assert found[2].value <= STAGE_REGISTRY["deviation"].evaluate(grouping)
    # The buildings split: a real bound, and a plan found splits no more than the least.
    better, split = whole_cover(inst, {r.name: r for r in found[:3]}, list(range(n)))
    assert split <= found[3].value
    if better is not None:
        assert STAGE_REGISTRY["split_sites"].evaluate(Grouping(inst, better)) == found[3].value
    exact = _least_compactness(inst, {k: r.value for k, r in done.items()}, labels, budget=10**6)
    better, bound = least_compactness(inst, done, labels)
    # Every bound real, and above nothing where the least is above nothing (a plan of single
    # practices, or of groups of one building, costs nothing).
    assert (bound > 0 if exact[1] > 0 else bound == 0) and bound <= exact[1] + 1e-6
    if better is not None:  # the set partitioning's grouping: never below the least, itself valid
        assert exact[1] - 1e-6 <= model_compactness(inst, better) < model_compactness(inst, labels)
        assert [STAGE_REGISTRY[r.name].evaluate(Grouping(inst, better)) for r in found[:-1]] == [
            r.value for r in found[:-1]
        ]
    assert 0 < compactness_bound(inst, done, labels, model_compactness(inst, labels)) <= exact[1] + 1e-6


@pytest.mark.parametrize("seed", range(16))
def test_the_buildings_search_never_passes_the_least_split(seed):
    """Random sparse instances with two buildings: the bound is real, a plan found the least.

    Checked against CP-SAT's proven optimum of each stage, from every practice alone and
    from the optimum's own plan; and the compactness stage after it.
    """
    import random
    from dataclasses import replace

    from footprint.partition._compactness import least_compactness
    from footprint.partition._instance import model_compactness
    from footprint.partition._split_bound import whole_cover
    from footprint.partition.stages import STAGE_REGISTRY, Grouping

    rng = random.Random(seed)
    n = rng.randrange(6, 10)
    edges = {(rng.randrange(i), i) for i in range(1, n)} | {(rng.randrange(i), i) for i in range(2, n, 3)}
    sizes = [rng.choice([6_000, 9_000, 15_000, 20_000, 25_000, 30_000]) for _ in range(n)]
    sites: list[list[int]] = []
    for a, b in rng.sample(sorted(edges), len(edges)):
        if len(sites) < 2 and not {a, b} & {i for site in sites for i in site}:
            sites.append([a, b])
    xy = [(rng.uniform(0, 5e3), rng.uniform(0, 5e3)) for _ in range(n)]
    inst = replace(_sparse_instance(sizes, edges, xy), sites=sites)
    labels, found = _unbounded_optimum(inst)
    done = {r.name: r for r in found[:3]}
    split = STAGE_REGISTRY["split_sites"]
    for start in (list(range(n)), labels):
        better, bound = whole_cover(inst, done, start)
        assert bound <= found[3].value
        if better is not None:
            grouping = Grouping(inst, better)
            assert split.evaluate(grouping) == found[3].value == bound
            assert all(STAGE_REGISTRY[r.name].evaluate(grouping) <= r.value for r in found[:3])
    # The compactness stage over the units those buildings leave (a building over the
    # ceiling as its practices where only those are split): its bound real, a plan no better
    # than the least.
    done["split_sites"] = found[3]
    better, bound = least_compactness(inst, done, labels)
    assert bound <= found[4].value + 1e-6
    assert better is None or model_compactness(inst, better) >= found[4].value - 1e-6


def test_compactness_is_solved_over_its_connected_groups_and_its_gap_is_reported(build, tmp_path):
    """A 3 x 4 grid of 10k practices: the set partitioning betters a poor grouping to the least."""
    from footprint.partition._compactness import _Groups, _relaxation, least_compactness
    from footprint.partition._instance import members_of, model_compactness
    from footprint.partition.solve import _least_compactness
    from footprint.partition.stages import StageResult

    inst = _grid_instance([[10_000] * 4] * 3)
    done = {s: StageResult(s, 0.0, 0.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:4]}
    row = [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2]  # a row of four: its ends far apart
    least = _least_compactness(inst, {k: r.value for k, r in done.items()}, row, budget=10**6)[1]
    assert least < model_compactness(inst, row)
    better, bound = least_compactness(inst, done, row)
    assert better is not None and model_compactness(inst, better) == pytest.approx(least)
    assert least - len(set(better)) <= bound <= least  # each group priced rounded down
    groups = _Groups(inst)
    own = sorted(groups.mask_of(members) for members in members_of(row).values())
    solved = _relaxation(groups, own, [])  # the relaxation alone, from the poor grouping
    assert solved is not None and 0.9 * least < solved.bound <= least
    # Its solution takes each group whole: a partition, the least, found with no search.
    assert solved.whole is not None and sum(groups.costs(solved.whole)) == pytest.approx(least)
    practices, boundaries = grid(tmp_path, [[10_000] * 4] * 3)
    plan = solve_plan(build(practices, boundaries), options=OPTIONS)
    stage = plan.info["ccgs"]["GRD"].to_dict()["stages"][-1]
    assert stage["stage"] == "compactness" and stage["status"] == "OPTIMAL" and stage["gap"] == 0.0


def test_the_compactness_stage_is_the_models_own_each_root_free(slice_practices, slice_graph):
    """The stage's value is each group's tree distance from its best root, as the model lets it be.

    On the slice's current PCNs of 99F, one group's crow-flies centre is not its best root: the
    tree from it lies above (1,048,826 against 1,033,162).
    """
    from footprint.partition._instance import (
        PlanInputs,
        centres,
        instances_from_graph,
        members_of,
        path_lengths,
    )
    from footprint.partition.stages import STAGE_REGISTRY, Grouping

    current = plan_from_practices(slice_practices)
    for inst in instances_from_graph(slice_graph, Rules(), PlanInputs(current=current)):
        labels = [c if c >= 0 else inst.n + i for i, c in enumerate(inst.current)]
        groups = [m for m in members_of(labels).values() if len(m) > 1]

        def tree(members, root, inst=inst):
            reach = path_lengths(inst.neighbours(), inst.arc_length, members, root)
            return sum(inst.sizes[u] * d for u, d in reach.items())

        least = sum(min(tree(m, r) for r in m) for m in groups)
        assert STAGE_REGISTRY["compactness"].evaluate(Grouping(inst, labels)) == least
        if inst.ccg == "99F":
            centre = centres(inst, labels)
            assert sum(tree(m, centre[m[0]]) for m in groups) > least


def test_a_stage_a_later_stage_lowers_to_its_bound_is_reported_proven(tmp_path, build):
    """Repair runs its first stage apart and hands the result on (``done``): where the grouping
    reached later meets that stage's bound, the stage is reported proven, not only lowered."""
    from footprint.partition._instance import PlanInputs, instances_from_graph
    from footprint.partition.model import build_model
    from footprint.partition.solve import run_stages
    from footprint.partition.stages import STAGE_REGISTRY, StageResult

    practices, boundaries = line(tmp_path, [20_000, 15_000, 15_000, 20_000])
    graph = build(practices, boundaries)
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs())
    stages = ("out_of_band", "deviation")
    pm = build_model(inst, stages=stages)
    pm.model.add(STAGE_REGISTRY["out_of_band"].expression(pm) <= 2)
    done = [StageResult("out_of_band", 2.0, 0.0, "FEASIBLE", 0.0)]
    _, (first, _) = run_stages(pm, [0, 0, 2, 2], stages, OPTIONS, done=done)  # {A1, A2}, {A3, A4}
    assert (first.value, first.bound, first.status) == (0.0, 0.0, "OPTIMAL")


#: A 4 x 4 grid of uneven list sizes (169,000 patients): many ways to group it in band.
UNEVEN = [
    [12_000, 8_000, 15_000, 6_000],
    [9_000, 20_000, 7_000, 11_000],
    [14_000, 5_000, 10_000, 16_000],
    [6_000, 13_000, 9_000, 8_000],
]


def _partitions(m: int, every: list[int]) -> list[list[int]]:
    """Every partition of ``m`` units into the groups ``every`` (bit masks), enumerated."""
    holding = {k: [mask for mask in every if mask >> k & 1] for k in range(m)}
    partitions: list[list[int]] = []

    def grow(covered: int, chosen: list[int]) -> None:
        if covered == (1 << m) - 1:
            partitions.append(chosen)
            return
        first = (~covered & (covered + 1)).bit_length() - 1
        for mask in holding[first]:
            if not mask & covered:
                grow(covered | mask, [*chosen, mask])

    grow(0, [])
    return partitions


def _every_group(groups):
    """Every connected group in band of the free units, enumerated (the columns pricing must find)."""
    from footprint.partition._split_bound import _in_band

    return _in_band(groups, 10**7)


def _relaxed_uneven_grid():
    from footprint.partition._compactness import _Groups, _relaxation
    from footprint.partition._instance import members_of
    from footprint.partition.warmstart import warm_start

    inst = _grid_instance(UNEVEN)
    groups = _Groups(inst)
    own = sorted(groups.mask_of(members) for members in members_of(warm_start(inst, seed=0)).values())
    solved = _relaxation(groups, own, [])
    return groups, solved.duals, solved.bound


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_pricing_finds_every_group_of_reduced_cost_up_to_its_limit(scale):
    """Against every connected group in band: none at or under the limit is missed, kept or not.

    At the relaxation's duals (no group below zero) and at duals half as high again (many).
    """
    from footprint.partition._compactness import _bits, _Knapsacks

    groups, duals, _ = _relaxed_uneven_grid()
    duals = duals * scale
    every = _every_group(groups)
    reduced = dict(zip(every, groups.reduced(every, duals), strict=True))
    assert (min(reduced.values()) > -1e-6) == (scale == 1.0)
    # Each root's bound, by which pricing passes over it, is under every group of its own.
    knapsacks = _Knapsacks(groups, duals)
    for r, own in enumerate(groups.root_unit):
        mine = [mask for mask in every if mask >> own & 1]
        assert all(knapsacks.profit[r][_bits(mask)].sum() >= knapsacks.least_root[r] - 1e-6 for mask in mine)
    for most in (0.0, 20_000.0, 200_000.0):
        found, lowered, complete = groups.price(duals, most)
        assert complete and lowered == most
        assert {mask for mask, r in reduced.items() if r <= most} <= set(found)
        assert all(reduced[mask] >= bound - 1e-6 for mask, bound in found.items())  # bounds from below
    found, lowered, _ = groups.price(duals, 200_000.0, keep=25)
    assert len(found) <= 25 and lowered < 200_000.0
    assert {mask for mask, r in reduced.items() if r <= lowered} <= set(found)


def test_the_relaxation_is_the_linear_programme_over_every_group():
    """Column generation ends where the relaxation over every connected group in band does."""
    from footprint.partition._compactness import _Relaxation

    groups, _, value = _relaxed_uneven_grid()
    every = _every_group(groups)
    full = _Relaxation(groups)
    full.add(every, groups.costs(every))
    solved = full.duals()
    assert solved is not None and value == pytest.approx(solved[1], rel=1e-9)


@pytest.mark.parametrize("ccg", ["36J", "78H", "11X", "02M", "06N"])
def test_a_real_ccgs_compactness_is_proven_least(ccg):
    """The shipped 2022 data: the stage betters the searched plan to the proven least.

    Before column generation 36J and 78H were left 18 % and 13 % above their bound. 11X
    needs the restricted master and the narrowed window (the windows alone left 3 %); 02M
    and 06N must split a building (the per-root bound left 19 % and 36 %), and 06N's split
    is proven needed by the split bound (bound 0 before).
    """
    from footprint.graph import graph_from_practices
    from footprint.load import select_ccgs

    graph = graph_from_practices(select_ccgs(read_practices(), [ccg]))
    plan = solve_plan(graph, options=OPTIONS)
    assert_plan_invariants(plan, graph)
    stages = plan.info["ccgs"][ccg].to_dict()["stages"]
    assert stages[-1]["stage"] == "compactness"
    assert all(stage["status"] == "OPTIMAL" for stage in stages), stages


@pytest.mark.parametrize("more", [0, 1])
def test_buildings_are_split_as_the_stage_before_allows_and_no_more(more, monkeypatch):
    """A 3 x 4 grid with three buildings of two practices, one of which must be split.

    Against every partition into connected groups in band (enumerated): where the stage
    before allows the fewest splits (1), the least such partition costs more than the least
    of all (which splits two), so a bound or plan that ignored the allowance would fail; and
    again with one split more allowed. The plan splits no more than allowed and, with no
    gap allowed, is proven the least.
    """
    import random

    from footprint.partition import _compactness
    from footprint.partition._compactness import _Groups, least_compactness
    from footprint.partition._instance import model_compactness
    from footprint.partition.stages import STAGE_REGISTRY, Grouping, StageResult

    rng = random.Random(19)
    sizes = [[rng.choice([5_000, 8_000, 11_000, 14_000, 17_000]) for _ in range(4)] for _ in range(3)]
    inst = _grid_instance(sizes, sites=[[0, 1], [5, 9], [6, 7]])
    groups = _Groups(inst, sites=False)
    every = _every_group(groups)
    cost = dict(zip(every, groups.costs(every).tolist(), strict=True))
    partitions = _partitions(groups.m, every)
    buildings = [groups.mask_of(site) for site in inst.sites]

    def splits(partition: list[int]) -> int:
        return sum(not any(mask & b == b for mask in partition) for b in buildings)

    allowed = min(map(splits, partitions)) + more
    assert allowed - more == 1
    valid = [p for p in partitions if splits(p) <= allowed]
    least = min(sum(cost[mask] for mask in p) for p in valid)
    if not more:
        assert least > min(sum(cost[mask] for mask in p) for p in partitions)  # the allowance binds
    start = max(valid, key=lambda p: sum(cost[mask] for mask in p))  # the worst allowed
    labels = [0] * inst.n
    for label, mask in enumerate(start):
        for k in _compactness._bits(mask):
            for i in groups.practices_of[k]:
                labels[i] = label
    done = {s: StageResult(s, 0.0, 0.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:3]}
    done["split_sites"] = StageResult("split_sites", float(allowed), 0.0, "FEASIBLE", 0.0)
    monkeypatch.setattr(_compactness, "GAP", 0.0)
    better, bound = least_compactness(inst, done, labels)
    plan = better or labels
    assert STAGE_REGISTRY["split_sites"].evaluate(Grouping(inst, plan)) <= allowed
    assert bound == least == model_compactness(inst, plan)


def test_a_whole_relaxation_that_splits_too_many_buildings_is_not_taken():
    """Two rows of four apart, the middle two of each in one building; one split allowed.

    15,000 x 4: only {0, 1} and {2, 3} are in band, so its building is split. 30,000 /
    10,000 + 10,000 / 30,000: splitting the building is cheapest (20,000 against 30,000),
    and the relaxation takes it, whole, at 50,000 in all with two splits: not a plan here.
    """
    from dataclasses import replace

    from footprint.partition._compactness import least_compactness
    from footprint.partition._instance import model_compactness
    from footprint.partition.stages import STAGE_REGISTRY, Grouping, StageResult

    row = _grid_instance([[15_000] * 4 + [30_000, 10_000, 10_000, 30_000]], sites=[[1, 2], [5, 6]])
    inst = replace(row, edges=[edge for edge in row.edges if edge != (3, 4)])
    done = {s: StageResult(s, 0.0, 0.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:3]}
    done["split_sites"] = StageResult("split_sites", 1.0, 1.0, "OPTIMAL", 0.0)
    labels = [0, 0, 1, 1, 2, 2, 2, 3]  # one building split, the least plan that splits one
    better, bound = least_compactness(inst, done, labels)
    assert STAGE_REGISTRY["split_sites"].evaluate(Grouping(inst, better or labels)) <= 1
    assert bound == model_compactness(inst, labels)  # proven, above the relaxation's 5/6 of it


@pytest.mark.parametrize("budget", [100_000, 1])
@pytest.mark.parametrize(
    ("sizes", "bound"),
    [([20_000, 15_000, 15_000, 20_000], 1.0), ([30_000, 15_000, 15_000, 30_000], 0.0)],
)
def test_buildings_are_kept_whole_where_a_plan_can_else_every_plan_splits_one(
    sizes, bound, budget, monkeypatch
):
    """Four practices in a row, the middle two in one building.

    20,000 / 15,000 + 15,000 / 20,000: the building whole leaves an end alone below the floor
    (or, with one end, 50,000 and the other end alone), so every plan in band splits it;
    30,000 / 15,000 + 15,000 / 30,000: three groups of 30,000 keep it whole, and the search
    finds them. With a budget of one group the enumeration gives way to the relaxation:
    the same bound, no plan.
    """
    from footprint.partition import _split_bound
    from footprint.partition.stages import STAGE_REGISTRY, Grouping, StageResult

    monkeypatch.setattr(_split_bound, "WHOLE_GROUPS", budget)
    inst = _grid_instance([sizes], sites=[[1, 2]])
    done = {s: StageResult(s, 0.0, 0.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:3]}
    for labels in ([0, 0, 1, 1], [0, 1, 1, 2], [0, 0, 0, 0]):  # from any plan, in band or not
        better, found = _split_bound.whole_cover(inst, done, labels)
        assert found == bound
        if bound or budget == 1:
            assert better is None
        else:
            grouping = Grouping(inst, better)
            assert STAGE_REGISTRY["split_sites"].evaluate(grouping) == 0
            assert grouping.statuses == ["in_band"] * 3
    # Where groups may stand out of band, a whole building may stand in one: no bound.
    done["out_of_band_all"] = StageResult("out_of_band_all", 1.0, 1.0, "OPTIMAL", 0.0)
    assert _split_bound.whole_cover(inst, done, [0, 0, 1, 1]) == (None, 0.0)


def test_a_building_over_the_ceiling_is_split_in_every_plan_and_a_closed_region_proves_one_more():
    """Practices in rows, 1 km apart; the buildings' practices are joined by a plus.

    20,000 | 30,000 + 25,000 | 20,000 | 15,000 + 15,000: the first building (55,000) is over
    the ceiling, so every plan splits it; the plan given also splits the second, which the
    search keeps whole (50,000 | 45,000 | 30,000). With 20,000 | 20,000 + 15,000 + 15,000 |
    20,000 after it instead, no plan keeps the second whole: the region of the plan's groups
    that split it grows, ring by ring, to every practice (one more). Two rows apart (no edge
    between them), the plan's groups that split no building in the first: the second row's
    region, joined to nothing, has no cover.
    """
    from dataclasses import replace

    from footprint.partition._split_bound import whole_cover
    from footprint.partition.stages import STAGE_REGISTRY, Grouping, StageResult

    done = {s: StageResult(s, 0.0, 0.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:3]}
    row = _grid_instance([[20_000, 30_000, 25_000, 20_000, 15_000, 15_000]], sites=[[1, 2], [4, 5]])
    better, found = whole_cover(row, done, [0, 0, 1, 1, 1, 2])
    assert found == 1.0
    assert better is not None
    assert STAGE_REGISTRY["split_sites"].evaluate(Grouping(row, better)) == 1.0
    assert Grouping(row, better).statuses == ["in_band"] * 3
    # 30,000 | 20,000 | 15,000 + 15,000 | 20,000, the plan splitting the building: its region
    # alone has no cover, one ring more has (50,000 | 50,000).
    grown = _grid_instance([[30_000, 20_000, 15_000, 15_000, 20_000]], sites=[[2, 3]])
    better, found = whole_cover(grown, done, [0, 1, 1, 2, 2])
    assert found == 0.0
    assert better is not None
    assert STAGE_REGISTRY["split_sites"].evaluate(Grouping(grown, better)) == 0.0
    longer = _grid_instance(
        [[20_000, 30_000, 25_000, 20_000, 20_000, 15_000, 15_000, 20_000]], sites=[[1, 2], [5, 6]]
    )
    assert whole_cover(longer, done, [0, 0, 1, 1, 2, 2, 3, 3]) == (None, 2.0)
    grid = _grid_instance(
        [[40_000, 40_000, 40_000, 40_000], [20_000, 15_000, 15_000, 20_000]], sites=[[5, 6]]
    )
    apart = replace(grid, edges=[(a, b) for a, b in grid.edges if b - a == 1])
    assert whole_cover(apart, done, [0, 1, 2, 3, 4, 4, 5, 5]) == (None, 1.0)
    # Joined to the other row by one edge, the region grows into it and finds no cover either.
    joined = replace(apart, edges=sorted([*apart.edges, (3, 7)]))
    assert whole_cover(joined, done, [0, 1, 2, 3, 4, 4, 5, 5]) == (None, 1.0)


def test_the_deviation_search_holds_no_more_groups_out_of_band_than_the_stages_leave():
    """Two neighbours of 29,000: apart they deviate 2,000 (two groups below the band), together 8,000.

    From the plan of both together, the search finds them apart only where the stages
    before leave room for two groups out of band, and for two not exempt.
    """
    from footprint.partition._band_cover import fewer_outside

    inst = _grid_instance([[29_000, 29_000]])
    apart = fewer_outside(inst, [0, 0], [0, 1], (2, 2), seed=0)
    assert apart is not None and apart[0] != apart[1]
    for room in ((1, 2), (2, 1), (1, 1)):
        assert fewer_outside(inst, [0, 0], [0, 1], room, seed=0) is None


def test_the_island_of_2025_deviates_no_more_than_it_must():
    """D9Y0V of the 2025 snapshot: the Isle of Wight's 12 practices cannot all be in band.

    The model's own search of the deviation stage (at the default limit) left 6,384
    patients outside the band against a bound of 4,963; the exact cover of least
    deviation by the groups within the plan's of the band, holding no more groups out of
    band than stages 1 and 2 leave, finds 4,963, the least.
    """
    from dataclasses import replace

    from footprint.graph import graph_from_practices
    from footprint.load import SNAPSHOTS, select_ccgs

    snapshot = SNAPSHOTS["2025-10"]
    practices = select_ccgs(read_practices(snapshot.practices), ["D9Y0V"])
    graph = graph_from_practices(practices, read_boundaries(snapshot.boundaries))
    plan = solve_plan(graph, options=replace(OPTIONS, time_limit_s=SolveOptions().time_limit_s))
    assert_plan_invariants(plan, graph)
    first, both, deviation = plan.info["ccgs"]["D9Y0V"].stages[:3]
    assert (first.value, both.value) == (1.0, 2.0)
    assert deviation.value == 4963.0 and deviation.proven
    # Stages that leave out the groups out of band: no limit on them, and no less.
    rules = Rules(stages=("out_of_band", "deviation", "compactness"))
    fewer = solve_plan(graph, rules=rules, options=replace(OPTIONS, time_limit_s=SolveOptions().time_limit_s))
    assert_plan_invariants(fewer, graph)
    assert fewer.info["ccgs"]["D9Y0V"].stages[1].value <= 4963.0


@pytest.mark.parametrize(
    ("data", "ccg", "split", "optimal"),
    [("2025-10", "10Q", 0, True), ("2025-10", "18C", 0, False), ("2022-01", "27D", 1, True)],
)
def test_plans_split_only_the_buildings_they_must(data, ccg, split, optimal):
    """10Q and 18C of the 2025 snapshot keep every building whole; 27D of 2022 splits one.

    The model's search of the stage (at the default limit), from plans that split 3, 1 and
    2 (the stages before split them to bring groups into band), found none better; the
    exact cover by the groups of whole buildings in band finds one (10Q's compactness is
    then proven). 27D's seven practices in one building total 61,909: every plan splits it,
    and the cover keeps every other building whole; its compactness, over the units that
    leaves (that building's practices, every other building whole), is then proven too
    (5.8% from its bound over practices with one split allowed).
    """
    from dataclasses import replace

    from footprint.graph import graph_from_practices
    from footprint.load import SNAPSHOTS, select_ccgs

    snapshot = SNAPSHOTS[data]
    practices = select_ccgs(read_practices(snapshot.practices, impute="postcode"), [ccg])
    graph = graph_from_practices(practices, read_boundaries(snapshot.boundaries))
    plan = solve_plan(graph, options=replace(OPTIONS, time_limit_s=SolveOptions().time_limit_s))
    assert_plan_invariants(plan, graph)
    stages = {s.name: s for s in plan.info["ccgs"][ccg].stages}
    assert stages["split_sites"].value == split
    assert stages["split_sites"].proven
    assert stages["compactness"].proven == optimal


@pytest.mark.parametrize("kept", [2_000, 10, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_stage_holds_against_the_least_partition(seed, kept, monkeypatch):
    """Random 4 x 4 grids whose relaxation is fractional: the bound never passes the least
    partition (solved over every group), nor the plan falls below it; proven at the default
    windows with no gap allowed, and still valid with the set partitioning cut to 10 or 3
    groups (its windows capped).
    """
    import random

    from footprint.partition import _compactness
    from footprint.partition._compactness import _Groups, _least_cover, least_compactness
    from footprint.partition._instance import members_of, model_compactness
    from footprint.partition.stages import StageResult
    from footprint.partition.warmstart import warm_start

    rng = random.Random(seed)
    inst = _grid_instance(
        [[rng.choice([5_000, 8_000, 11_000, 14_000, 17_000]) for _ in range(4)] for _ in range(4)]
    )
    groups = _Groups(inst)
    every = _every_group(groups)
    groups.costs(every)
    chosen, proven = _least_cover(groups, every, [], limit_s=60, seed=0)
    assert chosen is not None and proven == sum(groups.costs(chosen))  # the least partition
    labels = warm_start(inst, seed=0)
    assert all(inst.status(members) == "in_band" for members in members_of(labels).values())
    done = {s: StageResult(s, 0.0, 0.0, "OPTIMAL", 0.0) for s in DEFAULT_STAGES[:4]}
    monkeypatch.setattr(_compactness, "KEPT_GROUPS", kept)
    monkeypatch.setattr(_compactness, "GAP", 0.0)
    better, bound = least_compactness(inst, done, labels)
    value = model_compactness(inst, better or labels)
    assert bound <= proven <= value
    if kept == 2_000:
        assert bound == proven == value


@pytest.mark.parametrize(
    ("sizes", "rural", "status"),
    [
        ([[7_000, 9_000, 12_000], [26_000, 7_000, 16_000], [26_000, 26_000, 12_000]], False, "above"),
        ([[9_000, 7_000, 9_000], [26_000, 3_000, 26_000], [26_000, 3_000, 26_000]], False, "above"),
        ([[6_000, 7_000, 5_000], [4_000, 8_000, 6_000], [7_000, 5_000, 7_000]], True, "exempt_rural"),
    ],
)
def test_compactness_is_proven_least_where_the_stages_leave_groups_out_of_band(
    sizes, rural, status, monkeypatch
):
    """A 3 x 3 grid whose stages before compactness leave a group out of band.

    Against every partition into connected groups (enumerated), of those with the least
    groups out of band and then the least patients outside the band (the stages' values):
    the bound and the plan are the least of them, from their costliest. In the first two,
    the least partition holds a group 2,000 above the ceiling (groups up to the ceiling and
    the patients left, not the ceiling alone), and partitions whose groups each fit the
    room but together take more of it cost less (610,000 against 820,000; 790,000 against
    1,010,000): a relaxation or a search without the side rows would fail. In the third
    (55,000 rural patients), a rural group below the floor is exempt: out of band, but not
    breaking the band, so a side row that counted it as breaking would leave no cover.
    """
    from dataclasses import replace

    from footprint.partition import _compactness
    from footprint.partition._compactness import _bits, _Groups, least_compactness
    from footprint.partition._connected_groups import Budget, connected_groups
    from footprint.partition._instance import model_compactness
    from footprint.partition.stages import STAGE_REGISTRY, Grouping, StageResult

    grid = _grid_instance(sizes)
    inst = replace(grid, rural=[rural] * grid.n)
    groups = _Groups(inst, sites=False)
    everything = (1 << groups.m) - 1
    every = []
    for k in range(groups.m):
        after = everything & ~((1 << k) - 1)
        every += [mask for mask, _ in connected_groups(k, after, groups.near, groups.sizes, Budget(10**7))]
    partitions = _partitions(groups.m, every)

    def labels_of(partition: list[int]) -> list[int]:
        labels = [0] * inst.n
        for label, mask in enumerate(partition):
            for k in _bits(mask):
                labels[k] = label
        return labels

    stages = DEFAULT_STAGES[:3]
    figures = [
        tuple(STAGE_REGISTRY[s].evaluate(Grouping(inst, labels_of(p))) for s in stages) for p in partitions
    ]
    least_figures = min(figures)
    assert least_figures[1] > 0  # a group is left out of band
    valid = [p for p, f in zip(partitions, figures, strict=True) if f == least_figures]
    cost = {tuple(p): model_compactness(inst, labels_of(p)) for p in valid}
    least = min(cost.values())
    assert any(inst.status(_bits(mask)) == status for mask in min(cost, key=cost.get))
    done = {
        s: StageResult(s, value, value, "OPTIMAL", 0.0)
        for s, value in zip(stages, least_figures, strict=True)
    }
    done["split_sites"] = StageResult("split_sites", 0.0, 0.0, "OPTIMAL", 0.0)
    monkeypatch.setattr(_compactness, "GAP", 0.0)
    start = labels_of(list(max(cost, key=cost.get)))
    better, bound = least_compactness(inst, done, start)
    plan = better or start
    assert tuple(STAGE_REGISTRY[s].evaluate(Grouping(inst, plan)) for s in stages) == least_figures
    assert bound == least == model_compactness(inst, plan)


def _fractional_grid(seed: int, *, regrouped: bool = False):
    """A 4 x 4 grid of list sizes drawn with ``seed``: its free units and its relaxation solved.

    With ``regrouped``, the relaxation starts from the pool of every regrouping of two of
    the warm start's groups, as the stage's does.
    """
    import random

    from footprint.partition._compactness import _Groups, _pairs_regrouped, _relaxation
    from footprint.partition._instance import members_of
    from footprint.partition.warmstart import warm_start

    rng = random.Random(seed)
    sizes = [[rng.choice([5_000, 8_000, 11_000, 14_000, 17_000, 20_000]) for _ in range(4)] for _ in range(4)]
    inst = _grid_instance(sizes)
    groups = _Groups(inst)
    own = sorted(groups.mask_of(members) for members in members_of(warm_start(inst, seed=0)).values())
    return groups, _relaxation(groups, own, _pairs_regrouped(groups, own) if regrouped else [])


def _least_partition_cost(groups) -> float:
    """The least cost of a partition of the free units into connected groups in band (enumerated)."""
    every = _every_group(groups)
    cost = dict(zip(every, groups.costs(every).tolist(), strict=True))
    holding = {k: [mask for mask in every if mask >> k & 1] for k in range(groups.m)}
    best = [math.inf]

    def grow(covered: int, total: float) -> None:
        if total >= best[0]:
            return
        if covered == (1 << groups.m) - 1:
            best[0] = total
            return
        first = (~covered & (covered + 1)).bit_length() - 1
        for mask in holding[first]:
            if not mask & covered:
                grow(covered | mask, total + cost[mask])

    grow(0, 0.0)
    return best[0]


@pytest.mark.parametrize(("seed", "reaches"), [(0, True), (23, True), (26, True), (2, False), (16, False)])
def test_subset_row_cuts_raise_the_relaxation_and_never_past_the_least_partition(seed, reaches):
    """4 x 4 grids whose relaxation is fractional: the cuts raise its bound, never above the least.

    Against the least partition into connected groups in band (enumerated): in three grids
    the relaxation with cuts reaches the least partition's cost (its solution, where it
    takes each group whole, is that partition), in two it is raised but stays below.
    """
    from footprint.partition._compactness import _cut

    groups, solved = _fractional_grid(seed)
    assert solved is not None and solved.whole is None  # fractional
    least = _least_partition_cost(groups)
    cut = _cut(groups, solved, 10 * least, fixed=0.0)  # a plan far above: the rounds run on
    assert cut is not None and groups.cuts
    assert solved.bound < cut.bound <= least + 1e-6
    # The bound the duals certify is the relaxation's: no group in band prices below zero,
    # its reduced cost counted here apart (its units' duals, then those of the cuts it holds two of).
    assert cut.bound == pytest.approx(cut.lp.solver.Objective().Value(), rel=1e-9)
    every = _every_group(groups)
    units, cuts = cut.duals[: groups.m], cut.duals[groups.m :]
    for mask, cost in zip(every, groups.costs(every), strict=True):
        held = [k for k in range(groups.m) if mask >> k & 1]
        twice = [d for triple, d in zip(groups.cuts, cuts, strict=True) if (mask & triple).bit_count() >= 2]
        assert cost - units[held].sum() - sum(twice) >= -1e-6 * least
    assert (cut.bound == pytest.approx(least)) == reaches
    if cut.whole is not None:
        assert groups.total(cut.whole) == pytest.approx(least)


def test_a_cut_round_past_the_pricing_budget_leaves_the_bound_as_it_was():
    """Pricing overruns its budget in the first round: the relaxation before it, its cuts priced at zero."""
    from footprint.partition._compactness import _cut

    groups, solved = _fractional_grid(16)
    assert solved is not None
    groups.left = 0
    cut = _cut(groups, solved, 10 * solved.bound, fixed=0.0)
    assert groups.cuts and cut.bound == solved.bound
    assert len(cut.duals) == groups.m + len(groups.cuts) and not cut.duals[groups.m :].any()
    every = _every_group(groups)
    units = groups.holds(every).astype(float) @ solved.duals
    assert groups.reduced(every, cut.duals) == pytest.approx(groups.costs(every) - units, abs=1e-6)


def test_pricing_passes_that_stop_early_take_the_roots_in_turn():
    """A pricing pass stopped early is followed by one starting at the root it stopped at.

    Else every pass would weigh the first roots' groups again (already in the relaxation).
    """
    groups, solved = _fractional_grid(2)
    first, _, complete = groups.price(solved.duals, math.inf, enough=1)
    assert not complete and first
    assert all(mask >> groups.root_unit[0] & 1 for mask in first)  # root 0's groups only
    second, _, _ = groups.price(solved.duals, math.inf, enough=1)
    assert second and all(mask >> groups.root_unit[1] & 1 for mask in second)
    assert not all(mask >> groups.root_unit[0] & 1 for mask in second)


@pytest.mark.parametrize("seed", [2, 16])
def test_the_groups_known_are_the_pools_and_the_last_passs_each_once(seed):
    """The relaxation leaves known every pooled group's reduced cost and every priced one's, once each."""
    from footprint.partition._compactness import _pairs_regrouped
    from footprint.partition._instance import members_of
    from footprint.partition.warmstart import warm_start

    groups, solved = _fractional_grid(seed, regrouped=True)
    own = {groups.mask_of(members) for members in members_of(warm_start(groups.inst, seed=0)).values()}
    pool = set(_pairs_regrouped(groups, sorted(own))) - own
    priced, _, complete = groups.price(solved.duals, 0.0)  # the last pass: complete, at the same duals
    assert pool and complete
    known = sorted(pool | set(priced))
    assert len(solved.known) == len(known)
    reduced = sorted(groups.reduced(known, solved.duals).tolist())
    assert sorted(solved.known) == pytest.approx(reduced, abs=1e-6)


@pytest.mark.parametrize("seed", [2, 16])
def test_pricing_from_the_known_groups_keeps_the_same_groups(seed):
    """A window priced from the keep-th least reduced cost of the groups known keeps the same groups.

    The groups known (the pool's and the last pass's, each once) have reduced costs at least
    their bounds, so the keep least bounds lie under that limit, and pricing from it prunes
    sooner but finds them all.
    """
    from footprint.partition._compactness import _within

    groups, solved = _fractional_grid(seed)
    keep, most = 10, 1e9
    assert len(solved.known) >= keep
    limit = _within(most, solved.known, keep)
    assert limit < most
    groups.left = 10**9
    wide, _, _ = groups.price(solved.duals, most, keep=keep)
    narrow, _, _ = groups.price(solved.duals, limit, keep=keep)
    assert narrow == wide


def test_a_dive_finds_a_partition_and_leaves_the_relaxation_as_it_was():
    """4 x 4 grids whose relaxation is fractional: the dive's cover is a partition into groups in band.

    It costs no less than the least partition (enumerated); the relaxation keeps its value
    and every group's bounds (0 to unbounded) after it. A dive may end where the groups it
    fixed leave no solution (``None``, then the set partitioning searches instead), but it
    finds a partition in most of these grids.
    """
    found = 0
    for seed in (2, 12, 16, 28):
        groups, solved = _fractional_grid(seed)
        assert solved is not None and solved.whole is None
        lp = solved.lp
        value = lp.solver.Objective().Value()
        cover = lp.dive()
        assert lp.solver.Objective().Value() == pytest.approx(value)
        assert all(x.lb() == 0.0 and x.ub() == lp.solver.infinity() for x in lp.columns)
        if cover is None:
            continue
        found += 1
        covered, every = 0, set(_every_group(groups))
        for mask in cover:
            assert not covered & mask
            covered |= mask
            assert mask in every  # connected and in band
        assert covered == (1 << groups.m) - 1
        assert groups.total(cover) >= _least_partition_cost(groups) - 1e-6
    assert found >= 3
