from __future__ import annotations

import itertools

import networkx as nx
import pandas as pd
import pytest

from footprint.config import Rules
from footprint.evaluate import (
    check_plan,
    compactness_km,
    compare_plans,
    group_problems,
    group_table,
    plan_differences,
    plan_findings,
    practices_from_graph,
    score_plan,
)
from footprint.plan import Plan


def path_graph(sizes: dict[str, int], *, ccg: dict[str, str] | None = None) -> nx.Graph:
    """Practices A, B, C, ... 1 km apart on a line, each joined to the next (rook edges)."""
    graph = nx.Graph()
    codes = list(sizes)
    for k, code in enumerate(codes):
        graph.add_node(
            code,
            list_size=sizes[code],
            ccg_code=(ccg or {}).get(code, "X"),
            x=k * 1_000.0,
            y=0.0,
            practice_name=f"Practice {code}",
        )
    for a, b in itertools.pairwise(codes):
        kind = "rook" if graph.nodes[a]["ccg_code"] == graph.nodes[b]["ccg_code"] else "cross_ccg"
        graph.add_edge(a, b, type=kind)
    return graph


def test_check_plan_finds_every_rule_broken():
    graph = path_graph({"A": 10_000, "B": 10_000, "C": 10_000, "D": 10_000}, ccg={"D": "Y"})
    plan = Plan({"A": "p", "C": "p", "B": "q", "D": "q", "Z": "r"})
    rules = {v.rule for v in check_plan(plan, graph)}
    assert rules == {"coverage", "contiguity", "ccg"}
    pieces = next(v for v in check_plan(plan, graph) if v.rule == "contiguity")
    assert pieces.pcn_id == "p" and "2 pieces" in pieces.message
    missing = check_plan(Plan({"A": "p", "B": "p", "C": None}), graph)
    assert {v.message for v in missing} == {"1 practice(s) not in the plan", "1 practice(s) in no PCN"}


def test_check_plan_allows_a_listed_crossing():
    graph = path_graph({"A": 10_000, "B": 10_000}, ccg={"B": "Y"})
    assert [v.rule for v in check_plan(Plan({"A": "p", "B": "p"}), graph)] == ["ccg", "contiguity"]
    assert check_plan(Plan({"A": "p", "B": "p"}), graph, allow_cross={"A": "Y"}) == []


def test_compactness_is_list_weighted():
    graph = path_graph({"A": 30_000, "B": 10_000})
    # centre at 250 m from A: A is 0.25 km away, B 0.75 km; weighted (30k*0.25 + 10k*0.75)/40k = 0.375
    assert compactness_km(Plan({"A": "p", "B": "p"}), graph) == pytest.approx(0.375)
    equal = path_graph({"A": 10_000, "B": 10_000})
    assert compactness_km(Plan({"A": "p", "B": "p"}), equal) == pytest.approx(0.5)


def test_group_table_statuses_and_geography():
    graph = path_graph({"A": 20_000, "B": 5_000, "C": 60_000, "D": 25_000, "E": 25_000, "F": 10_000})
    practices = practices_from_graph(graph, rural=["F"])
    plan = Plan({"A": "p", "B": "p", "C": "q", "D": "r", "E": "r", "F": "s"})
    table = group_table(plan, practices, rules=Rules(rural_floor=10_000), far_km=0.4)
    assert table["status"].to_dict() == {
        "p": "below",
        "q": "exempt_large",
        "r": "in_band",
        "s": "exempt_rural",
    }
    assert table.at["r", "centre_x"] == pytest.approx(3_500.0)
    assert table.at["r", "far_members"] == ("D", "E")
    assert table.at["r", "funded_cd_wte"] == pytest.approx(0.25)
    assert table.at["q", "deviation"] == 10_000 and table.at["s", "deviation"] == 20_000
    assert set(group_problems(table)) == {"A", "B"}


def test_score_counts_exempt_groups_out_of_band():
    graph = path_graph({"A": 60_000, "B": 15_000, "C": 15_000, "D": 25_000})
    plan = Plan({"A": "p", "B": "q", "C": "q", "D": "r"})
    score = score_plan(plan, graph, rural=["D"])
    assert (score.out_of_band, score.exempt, score.not_exempt) == (2, 2, 0)
    assert score.in_band_patients == 30_000 and score.patients == 115_000
    assert score.deviation == 10_000 + 5_000
    strict = score_plan(plan, graph)
    assert (strict.out_of_band, strict.exempt) == (2, 1)


def test_group_table_reads_geometry_or_xy(slice_practices):
    plan = Plan(dict.fromkeys(slice_practices.index[:3], "p"))
    from_geometry = group_table(plan, slice_practices)
    xy = pd.DataFrame(
        {
            "list_size": slice_practices["list_size"],
            "ccg_code": slice_practices["ccg_code"],
            "x": slice_practices.geometry.x,
            "y": slice_practices.geometry.y,
        }
    )
    assert group_table(plan, xy)["mean_km"].tolist() == pytest.approx(from_geometry["mean_km"].tolist())


def findings_of(plan, graph, **kw):
    frame = plan_findings(plan, graph, **kw)
    return {(r.group, r.practice_code, r.rule, r.severity) for r in frame.itertuples()}


def test_findings_name_every_rule_with_its_severity():
    graph = path_graph({"A": 20_000, "B": 15_000, "C": 25_000, "D": 30_000, "E": 60_000, "F": 30_000})
    graph.add_node("G", list_size=40_000, ccg_code="Y", x=9_000.0, y=0.0, practice_name="Practice G")
    graph.add_edge("F", "G", type="cross_ccg")
    plan = Plan({"A": "p", "C": "p", "B": None, "D": "q", "E": "q", "F": "r", "G": "r", "Z": "s"})
    found = findings_of(plan, graph, duplicates=["D"])
    assert ("", "B", "open", "warning") in found
    assert ("", "D", "duplicated", "error") in found
    assert ("s", "Z", "unknown", "error") in found
    assert ("p", "C", "contiguity", "error") in found or ("p", "A", "contiguity", "error") in found
    assert ("q", "", "above", "warning") in found  # the ceiling is soft: a warning
    assert ("r", "F", "ccg", "error") in found and ("r", "G", "ccg", "error") in found
    assert not any(rule == "below" for *_, rule, _ in found)  # p: 45,000 is in band
    missing = findings_of(Plan({"A": "p"}), path_graph({"A": 40_000, "B": 1_000}))
    assert ("", "B", "missing", "error") in missing


def test_contiguity_finding_gives_the_gap():
    graph = path_graph({"A": 20_000, "B": 15_000, "C": 15_000})
    frame = plan_findings(Plan({"A": "p", "C": "p", "B": "q"}), graph)
    detail = frame.loc[frame["rule"] == "contiguity", "detail"].item()
    assert "Practice C (C) is cut off from the rest of p" in detail and "2.0 km" in detail


def test_below_is_an_error_unless_exempt():
    graph = path_graph({"A": 12_000, "B": 13_000})
    plan = Plan({"A": "p", "B": "p"})
    assert ("p", "", "below", "error") in findings_of(plan, graph)
    assert findings_of(plan, graph, approved=["p"]) == set()
    assert findings_of(plan, graph, rural=["A", "B"]) == set()


def test_bridge_finding_only_where_the_group_needs_the_bridge():
    graph = path_graph({"A": 20_000, "B": 15_000, "C": 5_000})
    graph.edges["A", "B"]["type"] = "bridge"
    graph.edges["A", "B"]["length_km"] = 4.2
    assert ("p", "", "bridge", "warning") in findings_of(Plan(dict.fromkeys("ABC", "p")), graph)
    graph.add_edge("A", "C", type="rook")  # a way round: the bridge is no longer needed
    assert not any(r[2] == "bridge" for r in findings_of(Plan(dict.fromkeys("ABC", "p")), graph))


def test_bridge_findings_name_their_ends_in_code_order():
    """The same plan gives the same findings in every run: the bridges' ends in code order
    (before, the order of a set of codes, which varies with Python's hash seed)."""
    graph = path_graph({"Q": 20_000, "P": 15_000, "N": 5_000, "M": 5_000})
    for a, b in (("Q", "P"), ("N", "M")):
        graph.edges[a, b]["type"] = "bridge"
    frame = plan_findings(Plan(dict.fromkeys("QPNM", "g")), graph)
    assert [d.split("(")[2] for d in frame.loc[frame["rule"] == "bridge", "detail"]] == [
        "M) to Practice N ",
        "P) to Practice Q ",
    ]


def test_enclosed_group_is_warned():
    import geopandas as gpd
    import shapely

    ring = shapely.box(0, 0, 3, 3).difference(shapely.box(1, 1, 2, 2))
    areas = gpd.GeoSeries([ring, shapely.box(1, 1, 2, 2), shapely.box(3, 0, 4, 1)], index=["o", "i", "x"])
    graph = path_graph({"A": 40_000, "B": 40_000, "C": 40_000})
    found = findings_of(Plan({"A": "o", "B": "i", "C": "x"}), graph, areas=areas)
    assert found == {("o", "", "enclosed", "warning")}


def test_compare_two_known_plans():
    graph = path_graph({"A": 20_000, "B": 15_000, "C": 15_000, "D": 20_000})
    graph.edges["B", "C"]["type"] = "bridge"
    a = Plan({"A": "1", "B": "1", "C": "2", "D": "2"})
    b = Plan({"A": "x", "B": "x", "C": "x", "D": "y"})
    metrics, distances = compare_plans({"a": a, "b": b}, graph, current=a)
    assert metrics.loc["groups"].tolist() == [2, 2]
    assert metrics.loc["out_of_band"].tolist() == [0, 1]
    assert metrics.loc["bridges_used"].tolist() == [0, 1]
    assert metrics.loc["moved_from_current"].tolist() == [0, 1]
    assert distances.loc["a", "b"] == distances.loc["b", "a"] == 1
    differences = plan_differences({"a": a, "b": b})
    assert differences.index.tolist() == ["C"]
    assert differences.loc["C"].tolist() == ["2", "x", "2|1"]
    assert plan_differences({"a": a, "renamed": Plan({"A": "q", "B": "q", "C": "r", "D": "r"})}).empty


def test_plan_summary_lists_far_flung_practices():
    from footprint.evaluate import plan_summary

    graph = path_graph({"A": 20_000, "B": 20_000, "C": 5_000})
    graph.nodes["C"]["x"] = 45_000.0  # 45 km east of A, in A's group
    plan = Plan({"A": "p", "C": "p", "B": "q"})
    far = plan_summary(plan, graph, far_km=20)["england"]["far_flung"]
    # Centre of p: (20k * 0 + 5k * 45,000) / 25k = 9,000 m; C is 36 km from it, A 9 km.
    assert far == [{"practice_code": "C", "practice_name": "Practice C", "pcn_id": "p", "km": 36.0}]
    assert plan_summary(plan, graph, far_km=40)["england"]["far_flung"] == []


def test_plan_summary_counts_the_ccgs_proven_or_within_the_gap():
    """A CCG counts where every stage is proven or its bound within 2% of its figure."""
    from footprint.evaluate import plan_summary
    from footprint.partition import CcgResult, StageResult

    def ccg(code: str, *stages: StageResult) -> CcgResult:
        status = "OPTIMAL" if all(s.status == "OPTIMAL" for s in stages) else "FEASIBLE"
        return CcgResult(code, status, stages, 0.0, 1, 0, 0)

    proven = StageResult("out_of_band", 0.0, 0.0, "OPTIMAL", 0.0)
    results = {
        "X": ccg("X", proven, StageResult("compactness", 100.0, 100.0, "OPTIMAL", 0.0)),
        "Y": ccg("Y", proven, StageResult("compactness", 100.0, 98.0, "FEASIBLE", 0.0)),  # 2%
        "Z": ccg("Z", proven, StageResult("compactness", 100.0, 97.0, "FEASIBLE", 0.0)),  # 3%
        "W": ccg("W", StageResult("out_of_band", 1.0, 0.0, "FEASIBLE", 0.0)),
    }
    graph = path_graph({"A": 20_000, "B": 20_000})
    england = plan_summary(Plan({"A": "p", "B": "p"}, {"ccgs": results}), graph)["england"]
    assert england["ccgs_optimal"] == 1 and england["ccgs_within_gap"] == 2
