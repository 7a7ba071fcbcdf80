from __future__ import annotations

import itertools
import random

import pytest

from footprint.config import SolveOptions
from footprint.errors import PlanError
from footprint.evaluate import check_plan, group_table, practices_from_graph
from footprint.load import read_boundaries, read_practices
from footprint.partition import PlanInputs, alternative_plans
from footprint.plan import Plan, aligned_groups
from tests.conftest import grid_rows, write_boxes, write_practices

OPTIONS = SolveOptions(workers=1, processes=1, seed=0, time_limit_s=5)


def line_graph(tmp_path, build, sizes):
    """Practices A1..An in a row, 1 km apart: A1 -- A2 -- ... -- An."""
    practices = read_practices(write_practices(tmp_path / "line.csv", grid_rows([sizes], ccg="LIN")))
    boundaries = read_boundaries(write_boxes(tmp_path / "line.gpkg", {"LIN": (0, 0, len(sizes), 1)}))
    return build(practices, boundaries)


def pairs_apart(a: Plan, b: Plan, graph) -> int:
    """Neighbouring pairs together in one plan and apart in the other."""
    return sum(
        (a.assignment[i] == a.assignment[j]) != (b.assignment[i] == b.assignment[j]) for i, j in graph.edges
    )


def test_seven_in_a_row_have_exactly_two_in_band_plans(tmp_path, build):
    """70k in seven 10k practices: only 30k+40k or 40k+30k keep both groups in band."""
    graph = line_graph(tmp_path, build, [10_000] * 7)
    alts = alternative_plans(graph, n=3, min_diff=2, options=OPTIONS)
    result = alts.ccgs["LIN"]
    assert (result.found, result.exhausted) == (2, True)
    assert "CP-SAT proved no other plan" in result.note
    split = {frozenset({f"A{k}" for k in range(1, 4)}), frozenset({f"A{k}" for k in range(4, 8)})}
    other = {frozenset({f"A{k}" for k in range(1, 5)}), frozenset({f"A{k}" for k in range(5, 8)})}
    assert {p.partition for p in alts.plans} == {frozenset(split), frozenset(other)}
    assert pairs_apart(*alts.plans, graph) == 2
    # Asking for more difference than the two plans have leaves the first alone, proven.
    strict = alternative_plans(graph, n=3, min_diff=3, options=OPTIONS).ccgs["LIN"]
    assert (strict.found, strict.exhausted) == (1, True)


def test_alternatives_are_valid_and_pairwise_apart(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    alts = alternative_plans(graph, n=4, min_diff=2, options=OPTIONS, inputs=PlanInputs())
    assert len(alts.plans) == alts.ccgs["GRD"].found >= 2
    first_out = None
    for plan in alts.plans:
        assert sorted(plan.assignment) == sorted(graph.nodes)
        assert check_plan(plan, graph) == []
        table = group_table(plan, practices_from_graph(graph))
        out = int((~table["in_band"]).sum())
        first_out = out if first_out is None else first_out
        assert out == first_out  # as few groups out of band as the first plan
    for a, b in itertools.combinations(alts.plans, 2):
        assert pairs_apart(a, b, graph) >= 2


def test_same_seed_same_alternatives(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    once = alternative_plans(graph, n=3, min_diff=2, options=OPTIONS)
    again = alternative_plans(graph, n=3, min_diff=2, options=OPTIONS)
    assert [p.partition for p in once.plans] == [p.partition for p in again.plans]


def test_settled_and_contested():
    a = Plan({"A": "1", "B": "1", "C": "2", "D": "2"})
    b = Plan({"A": "x", "B": "x", "C": "x", "D": "y"})  # C joins A and B
    c = Plan({"A": "p", "B": "p", "C": "q", "D": "q"})  # the same as a, renamed
    aligned = aligned_groups({"a": a, "b": b, "c": c})
    assert aligned["contested"].to_dict() == {"A": 0, "B": 0, "C": 1, "D": 0}
    assert aligned.loc["C", ["a", "b", "c"]].tolist() == ["2", "1", "2"]


@pytest.mark.parametrize(("n", "min_diff"), [(0, 3), (2, 0)])
def test_bad_counts_are_refused(tmp_path, build, n, min_diff):
    graph = line_graph(tmp_path, build, [10_000] * 4)
    with pytest.raises(PlanError, match="alternatives need n >= 1 and min_diff >= 1"):
        alternative_plans(graph, n=n, min_diff=min_diff, options=OPTIONS)


def test_a_dask_cluster_gives_the_same_plans(grid3, build):
    distributed = pytest.importorskip("distributed")
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    local = alternative_plans(graph, n=3, min_diff=2, options=OPTIONS)
    with distributed.LocalCluster(
        n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        remote = alternative_plans(
            graph, n=3, min_diff=2, options=OPTIONS, scheduler=cluster.scheduler_address
        )
    assert [p.partition for p in remote.plans] == [p.partition for p in local.plans]


def test_an_unreachable_scheduler_is_one_line(grid3, build):
    pytest.importorskip("distributed")
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    with pytest.raises(PlanError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        alternative_plans(graph, n=2, min_diff=2, options=OPTIONS, scheduler="tcp://127.0.0.1:9")


def test_recombination_leaves_groups_sharing_a_split_building_alone(tmp_path, build):
    """A1 -- A2/S1 -- A3 -- A4 -- A5, S1 in A2's building but in another group: those two groups stay."""

    from footprint.config import Rules
    from footprint.partition._instance import PlanInputs, instances_from_graph
    from footprint.partition.warmstart import recombine_pair

    rows = grid_rows([[15_000] * 5], ccg="LIN")
    rows.append(dict(rows[1], practice_code="S1", practice_name="Shared", list_size=15_000))
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    graph = build(practices, read_boundaries(write_boxes(tmp_path / "b.gpkg", {"LIN": (0, 0, 5, 1)})))
    (inst,) = instances_from_graph(graph, Rules(), PlanInputs())
    group = {"A1": 0, "A2": 0, "S1": 1, "A3": 1, "A4": 2, "A5": 2}
    labels = [group[code] for code in inst.codes]
    rng = random.Random(0)
    for _ in range(50):
        step = recombine_pair(inst, labels, rng)
        if step is not None:
            assert [step[i] for i, c in enumerate(inst.codes) if group[c] in (0, 1)] == [
                labels[i] for i, c in enumerate(inst.codes) if group[c] in (0, 1)
            ]
