from __future__ import annotations

import csv
import itertools
import json
import logging
import random
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import networkx as nx
import pandas as pd
import pytest

from footprint.cli import main
from footprint.errors import DataError
from footprint.plan import Plan
from footprint.render.share_report import sensitivity_svg, share_report_html, share_workbook
from footprint.share import (
    ARRANGEMENT_COLUMNS,
    COMPARE_COLUMNS,
    PAIR_COLUMNS,
    POST_COLUMNS,
    ShareOptions,
    cluster_bases,
    optimal_pairs,
    pcn_graph,
    rate_for_year,
    read_rates,
    share_candidates,
    share_plan,
)
from footprint.share.candidates import _connected_sets
from footprint.share.clusters import _component_status, _own_warnings, _status_words
from tests.conftest import DATA, X0, Y0, write_boxes, write_practices


def small_graph() -> tuple[nx.Graph, Plan]:
    """PCN p is practice A; PCN q is B and C; r is D, far to the east across a bridge.

    ::

        C (3, 4) 10k
        |
        A (0, 0) 20k -- B (3, 0) 10k ~~~~~~~~~~~~ D (40, 0) 30k
    """
    g = nx.Graph()
    for code, x, y, size in [
        ("A", 0, 0, 20_000),
        ("B", 3_000, 0, 10_000),
        ("C", 3_000, 4_000, 10_000),
        ("D", 40_000, 0, 30_000),
    ]:
        g.add_node(
            code, x=float(x), y=float(y), list_size=size, ccg_code="X", practice_name=f"Practice {code}"
        )
    g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    g.add_edge("B", "D", type="bridge", length_km=37.0)
    return g, Plan({"A": "p", "B": "q", "C": "q", "D": "r"})


def line_graph() -> tuple[nx.Graph, Plan]:
    """Three one-practice PCNs in a line, the big one at the west end.

    ::

        A (0, 0) 40k -- B (5, 0) 5k -- C (10, 0) 5k
           p               q              r

    For the three together, B keeps the furthest member closest (5 km against A's 10 km),
    while A has the least patient-distance (75,000 patient-km against B's 225,000).
    """
    g = nx.Graph()
    for code, x, size in [("A", 0, 40_000), ("B", 5_000, 5_000), ("C", 10_000, 5_000)]:
        g.add_node(code, x=float(x), y=0.0, list_size=size, ccg_code="X", practice_name=f"Practice {code}")
    g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    return g, Plan({"A": "p", "B": "q", "C": "r"})


def test_distances_and_funding_by_hand():
    g, plan = small_graph()
    rate = rate_for_year("2023/24")
    pairs = share_candidates(plan, g, options=ShareOptions(max_km=10, year="2023/24"), rate=rate)
    pq = pairs[pairs["pcn_b"] == "q"].iloc[0]
    # A-B 3 km, A-C 5 km, B-C 4 km: B's largest distance (4) is least, so B is the base.
    assert pq["base"] == "B" and pq["max_km"] == pytest.approx(4.0)
    # (20,000 x 3 + 10,000 x 0 + 10,000 x 4) / 40,000 = 2.5 km
    assert pq["mean_km"] == pytest.approx(2.5)
    assert (pq["patients"], pq["practices"]) == (40_000, 3)
    assert pq["wte"] == pytest.approx(0.2) and pq["sessions"] == pytest.approx(2.0)
    assert pq["gbp"] == pytest.approx(40_000 * 0.72963)
    assert pq["cost"] == 20_000 * 3_000 + 10_000 * 4_000
    qr = pairs[pairs["pcn_a"] == "q"].iloc[0]
    assert not qr["meets_limits"] and qr["reason"].startswith("base to member")


def test_named_base_and_singles():
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=10, bases=("c",)))
    pq = result.candidates[result.candidates["pcn_b"] == "q"].iloc[0]
    assert pq["base"] == "C" and pq["max_km"] == pytest.approx(5.0)
    assert result.singles.loc["q", "base"] == "C"
    assert result.singles.loc["p", "max_km"] == 0.0


def test_arrangement_and_keep_own_reasons():
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=10))
    assert result.cd_posts == 2
    assert result.keep_own == {
        "r": "every neighbouring PCN breaks a limit (q: base to member 37.0 km > 10 km)"
    }
    table = result.arrangement_table()
    assert tuple(table.columns) == ARRANGEMENT_COLUMNS
    shared = table[table["pcn_id"].isin(["p", "q"])]
    assert shared["cluster"].nunique() == 1 and set(shared["base"]) == {"B"}
    assert set(shared["base_name"]) == {"Practice B"}
    # mean over everyone: (100,000,000 patient-m for p+q, 0 for r) / 70,000 patients
    assert result.mean_km == pytest.approx(1e8 / 70_000 / 1000)
    lone = Plan({"A": "p", "B": "p", "C": "p", "D": "r"})
    g2 = g.copy()
    g2.remove_edge("B", "D")
    assert share_plan(lone, g2).keep_own == {"p": "no neighbouring PCN", "r": "no neighbouring PCN"}


def test_arrangement_gives_each_pcn_its_own_figures_and_posts_the_totals():
    """arrangement.csv summed twice the totals (each cluster's on every PCN row): not any more."""
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=10, year="2023/24"))
    table, posts = result.arrangement_table(), result.posts_table()
    assert tuple(posts.columns) == POST_COLUMNS
    summary = result.summary()
    assert table["patients"].sum() == posts["patients"].sum() == summary["patients"] == 70_000
    assert table["practices"].sum() == 4
    assert table["wte"].sum() == pytest.approx(posts["wte"].sum()) == pytest.approx(summary["funded_wte"])
    q = table.set_index("pcn_id").loc["q"]
    assert (q["patients"], q["practices"], q["max_km"]) == (20_000, 2, pytest.approx(4.0))
    pq = posts[posts["size"] == 2].iloc[0]
    assert (pq["pcns"], pq["patients"], pq["base"], pq["base_pcn"]) == ("p q", 40_000, "B", "q")


def test_limits_respected():
    g, plan = small_graph()
    for options, word in [
        (ShareOptions(max_km=3.9), "base to member 4.0 km > 3.9 km"),
        (ShareOptions(max_patients=39_999), "40,000 patients > 39,999"),
        (ShareOptions(max_practices=2), "3 practices > 2"),
    ]:
        result = share_plan(plan, g, options=options)
        pq = result.candidates[result.candidates["pcn_b"] == "q"].iloc[0]
        assert not pq["meets_limits"] and word in pq["reason"]
        assert result.cd_posts == 3 and "q" in result.keep_own
    result = share_plan(plan, g, options=ShareOptions(max_km=None, max_patients=80_000))
    assert (result.posts["patients"] <= 80_000).all()


def set_partitions(items: list[str]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        yield [[first], *part]
        for k in range(len(part)):
            yield [*part[:k], [first, *part[k]], *part[k + 1 :]]


def best_over_partitions(items: list[str], cost_of) -> tuple[int, int]:
    """Return (fewest posts, least cost) over every partition of ``items`` into blocks ``cost_of`` allows."""
    best = None
    for partition in set_partitions(sorted(items)):
        costs = [cost_of(sorted(block)) for block in partition]
        if all(c is not None for c in costs):
            value = (len(partition), sum(c for c in costs if c is not None))
            best = value if best is None or value < best else best
    assert best is not None
    return best


def best_partition(single: dict[str, int], allowed: dict[tuple[str, ...], int]) -> tuple[int, int]:
    """Return (fewest posts, least patient-metres): each PCN alone or in one allowed cluster."""
    return best_over_partitions(
        list(single), lambda c: single[c[0]] if len(c) == 1 else allowed.get(tuple(c))
    )


def random_case(seed: int, n: int = 8) -> tuple[nx.Graph, Plan]:
    rng = random.Random(seed)
    g = nx.Graph()
    plan = {}
    for i in range(n):
        for j in range(rng.choice([1, 2])):
            code = f"P{i}{j}"
            g.add_node(
                code,
                x=rng.uniform(0, 20_000),
                y=rng.uniform(0, 20_000),
                list_size=rng.randrange(5_000, 30_000),
                ccg_code="X",
                practice_name=code,
            )
            plan[code] = f"n{i}"
            if j:
                g.add_edge(f"P{i}0", code, type="site")
    codes = list(g)
    for a, b in itertools.combinations(codes, 2):
        if rng.random() < 0.3:
            g.add_edge(a, b, type="rook")
    return g, Plan(plan)


@pytest.mark.parametrize("seed", range(12))
def test_pairing_optimum_matches_brute_force(seed):
    g, plan = random_case(seed)
    options = ShareOptions(max_km=12, max_patients=70_000)
    result = share_plan(plan, g, options=options)
    pairs = result.candidates[result.candidates["meets_limits"]]
    allowed = {(a, b): int(c) for a, b, c in pairs[["pcn_a", "pcn_b", "cost"]].itertuples(index=False)}
    posts, cost = best_partition(result.singles["cost"].to_dict(), allowed)
    assert result.cd_posts == posts
    assert result.posts["cost"].sum() == cost
    # every shared cluster is an allowed pair of neighbours
    for members in result.posts.loc[result.posts["size"] > 1, "pcns"]:
        assert tuple(members.split()) in allowed


def test_optimal_pairs_prefers_cardinality_over_distance():
    # p-q is very cheap, but taking it leaves r and s unpaired: p-r and q-s give two posts fewer.
    pairs = {("p", "q"): 0, ("p", "r"): 900, ("q", "s"): 900}
    frame = pd.DataFrame([(a, b, c) for (a, b), c in pairs.items()], columns=["pcn_a", "pcn_b", "cost"])
    assert optimal_pairs(["p", "q", "r", "s"], frame, dict.fromkeys("pqrs", 0)) == [("p", "r"), ("q", "s")]


@pytest.mark.parametrize("seed", range(4))
def test_connected_sets_match_brute_force(seed):
    g, plan = random_case(seed, n=7)
    pcns = pcn_graph(plan, g)
    found = list(_connected_sets(pcns, 4))
    assert len(found) == len(set(found))
    expected = {
        tuple(sorted(c))
        for k in (2, 3, 4)
        for c in itertools.combinations(pcns, k)
        if nx.is_connected(pcns.subgraph(c))
    }
    assert set(found) == expected


def test_clusters_listed_and_arranged():
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=50, cluster_size=3))
    assert list(result.clusters_table()["pcns"]) == ["p q r"]
    # B reaches every practice within 37 km: one CD for all three PCNs, based at B.
    assert result.cd_posts == 1 and set(result.arrangement["base"]) == {"B"}
    assert result.proven and result.summary()["arrangement"]["proven"]
    assert "clusters of up to 3 PCNs" in result.summary()["arrangement"]["method"]


def test_cluster_base_is_the_one_rule_in_every_mode_and_table():
    """Clusters took the least patient-distance base (A), pairs and clusters.csv the minimax one (B)."""
    g, plan = line_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=20, cluster_size=3))
    assert result.cd_posts == 1
    listed = result.clusters_table().set_index("pcns").loc["p q r"]
    assert listed["base"] == "B" and (listed["max_km"], listed["mean_km"]) == (5.0, 4.5)
    assert set(result.arrangement_table()["base"]) == {"B"}
    assert result.mean_km == pytest.approx(4.5 * 50_000 / 50_000)
    post = result.posts_table().iloc[0]
    assert (post["base"], post["max_km"], post["mean_km"]) == ("B", 5.0, 4.5)
    # With the three too big together, the pair has the same base with pairs and with clusters.
    limits = {"max_km": 5, "max_patients": 46_000}
    pairs_only = share_plan(plan, g, options=ShareOptions(**limits, cluster_size=3))
    base_in_pairs = share_plan(plan, g, options=ShareOptions(**limits)).posts.set_index("pcns")["base"]
    assert pairs_only.posts.set_index("pcns")["base"].to_dict() == base_in_pairs.to_dict()


def test_cluster_bases():
    g, plan = line_graph()
    found = share_candidates(plan, g, options=ShareOptions(max_km=20, cluster_size=3))
    made = cluster_bases(pcn_graph(plan, g), g, found[found["meets_limits"]])
    name = "B:p+q+r"
    assert made.clusters[name] == ("p", "q", "r") and made.practice[name] == "B"
    assert name in made.bases["q"]
    # each PCN's share of the cluster's patient-metres, plus the weight that keeps the base to it
    extra = made.weight * 2 // 3
    assert made.reach[name, "p"] == (5.0, 40_000 * 5_000 + extra)
    assert made.reach[name, "r"] == (5.0, 5_000 * 5_000 + extra)
    assert made.weight % 6 == 0 and made.weight > 9 * found["cost"].max()


@pytest.mark.parametrize(("seed", "size"), [(0, 3), (1, 3), (2, 3), (3, 4), (4, 4), (5, 3)])
def test_share_clusters_match_brute_force(seed, size):
    """Fewest posts, then least patient-metres, each cluster at its base by the one rule."""
    g, plan = random_case(seed)
    options = ShareOptions(max_km=12, max_patients=90_000, cluster_size=size, sensitivity_km=(12.0,))
    result = share_plan(plan, g, options=options)
    ok = result.candidates[result.candidates["meets_limits"]]
    allowed = {tuple(p): int(c) for p, c in zip(ok["pcns"], ok["cost"], strict=True)}
    posts, cost = best_partition(result.singles["cost"].to_dict(), allowed)
    patients = int(result.singles["patients"].sum())
    assert (result.cd_posts, result.mean_km) == (posts, pytest.approx(cost / patients / 1000, rel=1e-12))
    assert int(result.posts["cost"].sum()) == cost and result.proven
    for post in result.posts.itertuples():
        assert post.size <= size
        if post.size > 1:
            assert post.patients <= 90_000 and post.max_km <= 12 + 1e-9
            assert tuple(post.pcns.split()) in allowed
        else:
            assert post.reason


@pytest.mark.parametrize("seed", range(3))
def test_options_compared_match_each_arrangement(seed):
    g, plan = random_case(seed)
    options = ShareOptions(max_km=12, cluster_size=3, sensitivity_km=(6.0, 30.0), year="2023/24")
    steps: list[str] = []
    result = share_plan(plan, g, options=options, progress=steps.append)
    table = result.compared
    assert tuple(table.columns) == COMPARE_COLUMNS
    assert steps[0] == "arrangement" and len(steps) == 6  # 2 sizes x 3 limits, the arrangement reused
    assert list(table["option"]) == ["every PCN its own CD", *["pairs"] * 3, *["clusters of up to 3"] * 3]
    now = table.iloc[0]
    n, total_gbp = len(result.singles), float(result.singles["gbp"].sum())
    assert (now["cd_posts"], now["fewer_posts"], now["mean_km"]) == (
        n,
        0,
        pytest.approx(result.summary()["arrangement"]["mean_km_own_bases"]),
    )
    for row in table.iloc[1:].itertuples():
        solo = share_plan(
            plan,
            g,
            options=ShareOptions(max_km=row.limit_km, cluster_size=row.cluster_size, sensitivity_km=(5,)),
        )
        assert (row.cd_posts, row.mean_km) == (solo.cd_posts, pytest.approx(round(solo.mean_km, 3)))
        assert row.fewer_posts == n - row.cd_posts and row.proven
        # the money does not change with sharing: it is split over fewer posts
        assert row.gbp_per_post * row.cd_posts == pytest.approx(total_gbp, abs=0.01 * row.cd_posts)
    chosen = table[table["chosen"]]
    assert len(chosen) == 1 and chosen.iloc[0]["cd_posts"] == result.cd_posts
    assert list(result.sensitivity["max_km"]) == [6.0, 12.0, 30.0]


def test_money_for_the_months_each_rate_covers():
    """2019/20's rate was for nine months; 2020/21 and 2021/22 had the uplift to 1 WTE per 50,000."""
    rates = read_rates()
    nine = rates["2019/20"]
    assert (nine.months, nine.gbp(100_000), nine.wte(100_000)) == (9, 51_430.0, 0.5)
    assert "July 2019 to March 2020 (9 months)" in nine.describe()
    uplift = rates["2020/21"]
    assert [p.part for p in uplift.parts] == ["CD payment", "temporary uplift"]
    assert uplift.gbp_per_patient == pytest.approx(0.722 + 0.542)
    assert uplift.wte_per_50000 == pytest.approx((0.25 * 12 + 0.75 * 3) / 12)
    assert rates["2021/22"].parts[1].period() == "April 2021 to June 2021 (3 months)"
    merged = rates["2024/25"]
    assert merged.gbp(50_000) is None and merged.wte(50_000) is None
    for rate in rates.values():
        for part in rate.parts:
            assert (
                part.source and "above" not in part.note
            )  # "differs from £0.722 above": no such thing above
            assert part.wte_per_50000 is None or part.wte_source
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(year="2019/20"))
    summary = result.summary()
    assert summary["gbp"] == pytest.approx(70_000 * 0.5143)
    assert summary["gbp_for"] == "for July 2019 to March 2020 (9 months)"
    page = share_report_html(result)
    assert "a year" not in page and "for July 2019 to March 2020 (9 months)" in page


def test_rates_file_parts_and_older_files(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("year,gbp_per_patient\n2030/31,1.00\n")
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(year="2030/31"), rates=path)
    assert result.singles.loc["r", "gbp"] == 30_000.0 and result.singles.loc["r", "wte"] == pytest.approx(
        0.15
    )
    path.write_text(
        "year,part,from,to,months,gbp_per_patient,wte_per_50000\n"
        "2030/31,CD payment,2030-04,2031-03,12,1.00,0.25\n"
        "2030/31,uplift,2030-04,2030-09,6,0.50,0.25\n"
    )
    rate = read_rates(path)["2030/31"]
    assert rate.gbp(10_000) == 15_000.0 and rate.wte_per_50000 == pytest.approx(0.375)


def test_merged_year_reports_neither_time_nor_money():
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(year="2024/25"))
    assert result.candidates["gbp"].isna().all() and result.candidates["wte"].isna().all()
    assert "merged into core PCN funding" in result.summary()["notes"][0]
    assert result.summary()["funded_wte"] is None
    assert "has no separate CD money" in share_report_html(result)


def test_errors(tmp_path):
    g, plan = small_graph()
    with pytest.raises(DataError, match=r"max_km -1 km must be a positive distance"):
        ShareOptions(max_km=-1)
    with pytest.raises(DataError, match=r"max_km 0 km must be a positive distance"):
        ShareOptions(max_km=0)
    with pytest.raises(DataError, match=r"max_patients 0 must be a positive whole number"):
        ShareOptions(max_patients=0)
    with pytest.raises(DataError, match=r"max_practices -2 must be a positive whole number"):
        ShareOptions(max_practices=-2)
    with pytest.raises(DataError, match=r"cluster_size 1 must lie between 2 \(pairs\) and 6"):
        ShareOptions(cluster_size=1)
    with pytest.raises(DataError, match=r"year '2021' is not a financial year: write it YYYY/YY"):
        ShareOptions(year="2021")
    with pytest.raises(DataError, match=r"sensitivity distances .* must all be positive km"):
        ShareOptions(sensitivity_km=(0.0,))
    with pytest.raises(DataError, match=r"no CD payment rate for year 2031/32: known years are 2019/20, "):
        share_plan(plan, g, options=ShareOptions(year="2031/32"))
    with pytest.raises(
        DataError, match=r"base practice\(s\) Z9 \(not a practice of the plan\) are in no PCN"
    ):
        share_plan(plan, g, options=ShareOptions(bases=("Z9",)))
    open_plan = Plan({**plan.assignment, "A": None})
    with pytest.raises(DataError, match=r"A \(open in the plan\) are in no PCN"):
        share_plan(open_plan, g, options=ShareOptions(bases=("A",)))
    bad = tmp_path / "bad.csv"
    bad.write_text("year,rate\n2020/21,1\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) gbp_per_patient"):
        read_rates(bad)
    bad.write_text("year,gbp_per_patient\n2020/21,lots\n")
    with pytest.raises(DataError, match=r"line 2: gbp_per_patient 'lots' is not a non-negative number"):
        read_rates(bad)
    bad.write_text("year,gbp_per_patient,months\n2020/21,1,13\n")
    with pytest.raises(DataError, match=r"line 2: months '13' is not a whole number from 1 to 12"):
        read_rates(bad)
    with pytest.raises(DataError, match=r"rates file .* does not exist"):
        read_rates(tmp_path / "missing.csv")


def test_no_pcn_in_the_plan_is_a_one_line_error():
    g, plan = small_graph()
    nobody = Plan(dict.fromkeys(plan.assignment))
    with pytest.raises(
        DataError, match=r"^no PCN to share a clinical director: the plan puts none of the 4 "
    ):
        share_plan(nobody, g)


def test_left_out_listed_with_why():
    g, _ = small_graph()
    g.add_node("E", x=1_000.0, y=1_000.0, list_size=8_226, ccg_code="Y", practice_name="Practice E")
    g.add_edge("A", "E", type="cross_ccg")
    partial = Plan({"A": "p", "B": "q", "C": None, "D": "r", "Z": "q"})
    result = share_plan(partial, g)
    left = result.left_out.set_index("practice_code")["why"].to_dict()
    assert left == {
        "C": "open: in no PCN of the plan",
        "E": "not in the plan",
        "Z": "in a PCN of the plan but not among the practices given (no position or list size)",
    }
    assert result.missing_ccgs == {
        "Y": "none of its 1 practices is in a PCN of the plan (0 open, 1 not in the plan)"
    }
    summary = result.summary()["left_out"]
    assert (summary["practices"], summary["patients"]) == (3, 10_000 + 8_226)
    page = share_report_html(result)
    assert "CCG Y: none of its 1 practices" in page and "not in the plan" in page


def test_bridged_member_flagged():
    """The Isles of Scilly's 77 km are over sea: a member joined to its base only across a bridge is named."""
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=50, cluster_size=3))
    post = result.posts_table().iloc[0]
    assert (post["base"], post["bridged"]) == ("B", "D")
    assert result.arrangement_table().set_index("pcn_id").loc["r", "bridged"] == "D"
    assert any("across a bridge of the graph" in n and "CD0001 (base B): D" in n for n in result.notes)
    pairs = result.pairs_table().set_index(["pcn_a", "pcn_b"])
    assert pairs.loc[("q", "r"), "bridged"] == "D" and pairs.loc[("p", "q"), "bridged"] == ""


def test_report_escapes_and_plots():
    g, plan = small_graph()
    result = share_plan(plan, g, names={"p": "<script>alert(1)</script>"})
    page = share_report_html(result)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "<polyline" in page
    assert "Distances are straight lines between practice sites" in page
    svg = sensitivity_svg(result.compared)
    assert svg.count("<circle") == len(result.compared) - 1  # every option but "every PCN its own CD"


def test_chart_marks_whole_posts_and_keeps_a_flat_line_off_the_axis():
    """The axis read "27 27 27 26 26 26" and a flat series was drawn on the axis."""
    table = pd.DataFrame({"max_km": [5.0, 10.0, 20.0], "cd_posts": [27, 27, 27]})
    svg = sensitivity_svg(table)
    labels = re.findall(r'text-anchor="end">([^<]+)<', svg)
    assert len(labels) == len(set(labels)) and all(label.replace(",", "").isdigit() for label in labels)
    axis = float(re.search(r'<line x1="64" x2="\d+" y1="([\d.]+)" y2="[\d.]+" stroke="#333"', svg).group(1))
    ys = {float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)}
    assert len(ys) == 1 and ys.pop() < axis - 20


def test_empty_tables_say_so():
    g, _ = small_graph()
    result = share_plan(Plan({"A": "p", "B": "q", "C": "q"}), g.subgraph(["A", "B", "C"]).copy())
    assert not result.keep_own
    page = share_report_html(result)
    assert "None: every PCN shares its clinical director." in page
    assert "Nothing: every practice given is in a PCN of the plan." in page


def test_status_words_say_which_stage_is_proven():
    raw = {
        "status": "FEASIBLE",
        "ccgs": ["15E", "D2P2L"],
        "pcns": 60,
        "stages": [
            {"stage": "clusters", "value": 15.0, "bound": 15.0, "proven": True, "seconds": 62.8},
            {
                "stage": "patient_metres",
                "value": 45 * 1000 + 8_317,
                "bound": 45 * 1000 + 7_751,
                "proven": False,
                "seconds": 77.2,
            },
        ],
    }
    status = _component_status(raw, weight=1000)
    assert (status["posts"], status["posts_proven"], status["distance_proven"]) == (15, True, False)
    assert (status["patient_metres"], status["patient_metres_bound"]) == (8_317, 7_751)
    words = _status_words(status)
    assert words.startswith(
        "60 PCNs in 15E, D2P2L: fewest CD posts (15) proven; least distance to the base not proven"
    )
    assert "StageResult" not in words


def test_partition_warning_held_back(caplog):
    with caplog.at_level(logging.WARNING), _own_warnings():
        logging.getLogger("footprint.partition.clusters").warning(
            "CD clusters of %s: raw %s", "U1", "[StageResult()]"
        )
    assert "StageResult" not in caplog.text


def test_workbook_opens_with_named_columns():
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=10), names={"p": "Pea PCN"})
    sheets = workbook_sheets(share_workbook(result))
    assert list(sheets) == [
        "Summary",
        "Options compared",
        "CD posts",
        "PCNs",
        "By ICB",
        "Left out",
        "Funding",
        "Pairs",
    ]
    pairs = sheets["Pairs"]
    assert pairs[0][:4] == ["PCN A", "PCN A name", "PCN B", "PCN B name"]
    assert pairs[1][:2] == ["p", "Pea PCN"]
    every = {v for rows in sheets.values() for row in rows for v in row}
    assert not every & {"True", "False", "pcn_a", "meets_limits"} and "yes" in every
    assert share_workbook(result) == share_workbook(result)  # the same result, the same bytes


def workbook_sheets(data: bytes) -> dict[str, list[list[str]]]:
    """Read an .xlsx written by share_workbook: sheet name to rows of cell texts."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as book:
        names = [
            s.get("name")
            for s in ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{{{ns['m']}}}sheet")
        ]
        sheets = {}
        for k, name in enumerate(names, start=1):
            root = ElementTree.fromstring(book.read(f"xl/worksheets/sheet{k}.xml"))
            sheets[name] = [
                ["".join(c.itertext()) for c in row.findall("m:c", ns)]
                for row in root.iter(f"{{{ns['m']}}}row")
            ]
    return sheets


# The command, on the real slice and on hand-drawn files -------------------------------------


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


SLICE = (
    "--practices",
    DATA / "practices_slice.csv",
    "--boundaries",
    DATA / "ccg_slice.geojson",
    "--impute-missing",
)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "share-cache"))


def test_cli_on_slice(capsys, tmp_path):
    out = tmp_path / "share"
    argv = ("share", *SLICE, "--out", out, "--no-maps", "--year", "2023/24", "--ccg", "99F", "99G")
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0
    assert "optimal arrangement (proven)" in stdout and "CD posts by distance limit, pairs" in stdout
    assert "left out: 1 practice (4,287 patients), open: in no PCN of the plan" in stdout
    for name in ("pairs", "arrangement", "posts", "options", "left_out", "icbs"):
        assert (out / f"{name}.csv").exists(), name
    with (out / "pairs.csv").open() as fh:
        pairs = list(csv.DictReader(fh))
    assert tuple(pairs[0]) == PAIR_COLUMNS and pairs
    with (out / "arrangement.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == ARRANGEMENT_COLUMNS
    assert any(r["pcn_name"].upper() == "BENFLEET PCN" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arrangement"]["cd_posts"] == len({r["cluster"] for r in rows})
    assert sum(int(r["patients"]) for r in rows) == summary["patients"]  # each PCN's own, not its cluster's
    assert summary["rate"]["gbp_per_patient"] == 0.72963 and summary["maps"] == {}  # --no-maps
    made = summary["provenance"]
    assert made["options"]["ccg"] == ["99F", "99G"] and made["data_date"] == "2022-01-01"
    assert re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", made["made"])
    assert summary["scope"]["ccgs"] == ["99F", "99G"] and summary["scope"]["icbs"] == ["QH8"]
    page = (out / "report.html").read_text()
    assert "<svg" in page and "99F (NHS Castle Point and Rochford CCG)" in page
    assert "1 January 2022" in page and f"Made {made['made']}" in page and "share.xlsx" in page
    assert "CD posts" in workbook_sheets((out / "share.xlsx").read_bytes())


def test_cli_icb_totals(capsys, tmp_path):
    out = tmp_path / "share"
    code, _, err = run_cli(
        capsys, "share", *SLICE, "--out", out, "--no-maps", "--icb", "QH8", "--sensitivity", "10"
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scope"]["ccgs"] == ["99F", "99G"] and summary["provenance"]["options"]["icb"] == ["QH8"]
    (icb,) = summary["by_icb"]
    assert (icb["icb_code"], icb["pcns"], icb["cd_posts"]) == (
        "QH8",
        summary["pcns"],
        summary["arrangement"]["cd_posts"],
    )
    assert icb["patients"] == summary["patients"]
    assert "By ICB (STP on this data)" in (out / "report.html").read_text()


def test_cli_plan_with_no_pcn_in_the_ccg_is_one_line(capsys, tmp_path):
    """share plan.csv --ccg 11N with no PCN there: KeyError 'cluster', a traceback."""
    rows = pd.read_csv(DATA / "practices_slice.csv", dtype=str)
    plan = tmp_path / "plan.csv"
    rows.loc[rows["ccg_code"] == "99F", ["practice_code"]].assign(pcn_id="").to_csv(plan, index=False)
    code, _, err = run_cli(capsys, "share", plan, *SLICE, "--out", tmp_path, "--no-maps", "--ccg", "99F")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        "footprint: error: no PCN to share a clinical director: the plan puts none of the 23"
    )


def test_cli_plan_names_missing_practice_and_missing_ccg(capsys, tmp_path):
    rows = pd.read_csv(DATA / "practices_slice.csv", dtype=str)
    mine = rows[(rows["ccg_code"] == "99F") & (rows["pcn_code"] != "U")].iloc[1:]
    plan = tmp_path / "plan.csv"
    mine[["practice_code", "pcn_code"]].rename(columns={"pcn_code": "pcn_id"}).to_csv(plan, index=False)
    missing = rows[(rows["ccg_code"] == "99F") & (rows["pcn_code"] != "U")].iloc[0]
    out = tmp_path / "share"
    code, stdout, _ = run_cli(capsys, "share", plan, *SLICE, "--out", out, "--no-maps", "--ccg", "99F", "01F")
    assert code == 0
    left = pd.read_csv(out / "left_out.csv", dtype=str).set_index("practice_code")
    assert left.loc[missing["practice_code"], "why"] == "not in the plan"
    assert (left.loc[rows.loc[rows["ccg_code"] == "01F", "practice_code"], "why"] == "not in the plan").all()
    assert (
        "left out: CCG 01F: none of its 14 practices is in a PCN of the plan (0 open, 14 not in the plan)"
        in stdout
    )
    # a plan's PCN ids that are current PCN codes keep their published names
    with (out / "arrangement.csv").open() as fh:
        assert all(r["pcn_name"] for r in csv.DictReader(fh))


def test_cli_cross_ccg_pcn_counted_whole_and_named(capsys, tmp_path):
    rows = pd.read_csv(DATA / "practices_slice.csv", dtype=str)
    benfleet = rows.loc[rows["pcn_name"] == "BENFLEET PCN", "pcn_code"].iloc[0]
    moved = rows.index[rows["ccg_code"] == "99G"][0]
    rows.loc[moved, ["pcn_code", "pcn_name"]] = [benfleet, "BENFLEET PCN"]
    practices = tmp_path / "practices.csv"
    rows.to_csv(practices, index=False)
    whole = int(rows.loc[rows["pcn_code"] == benfleet, "list_size"].astype(int).sum())
    out = tmp_path / "share"
    argv = ("share", "--practices", practices, "--boundaries", DATA / "ccg_slice.geojson", "--impute-missing")
    code, _, err = run_cli(capsys, *argv, "--out", out, "--no-maps", "--ccg", "99F", "--sensitivity", "10")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scope"]["outside"] == {benfleet: [rows.loc[moved, "practice_code"]]}
    table = pd.read_csv(out / "arrangement.csv", dtype={"pcn_id": str}).set_index("pcn_id")
    assert table.loc[benfleet, "patients"] == whole and table.loc[benfleet, "ccg_code"] == "99F,99G"
    assert "Counted whole across the CCG line" in (out / "report.html").read_text()


def three_in_a_row(tmp_path: Path) -> list[str]:
    """Three one-practice PCNs 3 km apart in a CCG ``ROW``: one pair, one PCN keeping its own."""
    rows = [
        {
            "practice_code": f"R{k}",
            "practice_name": f"Row practice {k}",
            "list_size": 20_000,
            "ccg_code": "ROW",
            "pcn_code": f"U0000{k}",
            "pcn_name": f"Row {k} PCN",
            "easting": X0 + 500 + 3_000 * k,
            "northing": Y0 + 500,
        }
        for k in range(3)
    ]
    practices = write_practices(tmp_path / "row.csv", rows)
    boundaries = write_boxes(tmp_path / "row.gpkg", {"ROW": (0, 0, 9, 1)})
    return ["--practices", practices, "--boundaries", boundaries]


def test_cli_words_one_pcn_and_empty_tables(capsys, tmp_path):
    out = tmp_path / "share"
    code, stdout, _ = run_cli(
        capsys, "share", *three_in_a_row(tmp_path), "--out", out, "--no-maps", "--sensitivity", "10"
    )
    assert code == 0
    assert "1 PCNs" not in stdout and "1 PCN keeping its own" in stdout
    assert "2 CD posts instead of 3; 1 shared post," in stdout
    page = (out / "report.html").read_text()
    assert "1 PCN keeping its own" in page and "1 PCNs" not in page
    assert "Nothing: every practice given is in a PCN of the plan." in page


def test_cli_clusters(capsys, tmp_path):
    out = tmp_path / "share"
    argv = ("--out", out, "--cluster-size", "3", "--ccg", "99F", "99G", "--sensitivity", "20,5,10")
    code, stdout, _ = run_cli(capsys, "share", *SLICE, *argv)
    assert code == 0 and "optimal arrangement (proven)" in stdout
    summary = json.loads((out / "summary.json").read_text())
    # The options are solved at each limit and size, in order; 10 km of clusters is the arrangement.
    table = summary["sensitivity"]
    assert [r["max_km"] for r in table] == [5.0, 10.0, 20.0] and all(r["proven"] for r in table)
    assert table[1]["cd_posts"] == summary["arrangement"]["cd_posts"]
    compared = pd.read_csv(out / "options.csv")
    assert list(compared["cluster_size"]) == [1, 2, 2, 2, 3, 3, 3]
    assert summary["arrangement"]["proven"] and "clusters of up to 3" in summary["arrangement"]["method"]
    posts = pd.read_csv(out / "posts.csv", dtype=str).set_index("pcns")
    listed = pd.read_csv(out / "clusters.csv", dtype=str).set_index("pcns")
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    pairs.index = pairs["pcn_a"] + " " + pairs["pcn_b"]
    for pcns, post in posts[posts["size"].astype(int) > 1].iterrows():
        row = (listed if int(post["size"]) > 2 else pairs).loc[pcns]
        assert (row["base"], row["max_km"], row["mean_km"]) == (post["base"], post["max_km"], post["mean_km"])
    assert posts["size"].astype(int).max() <= 3
    assert (posts.loc[posts["size"] == "1", "reason"] != "").all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--max-km", "0"), "argument --max-km: '0' is not a distance from 0.1 to 1,000 km"),
        (("--max-km=-3",), "argument --max-km: '-3' is not a distance from 0.1 to 1,000 km"),
        (("--max-km", "nan"), "footprint: error: argument --max-km: 'nan' is not a distance"),
        (("--max-patients", "1.5"), "footprint: error: argument --max-patients: '1.5' is not a whole number"),
        (("--year", "2031/32"), "footprint: error: no CD payment rate for --year 2031/32: known years are"),
        (("--base", "F81999"), "footprint: error: --base practice(s) F81999 (not a practice of the plan)"),
        (("--cluster-size", "9"), "footprint: error: --cluster-size 9 must lie between 2"),
        (("--sensitivity", "5,0"), "argument --sensitivity: '0' is not a distance from 0.1 to 1,000 km"),
        (("--sensitivity", ""), "argument --sensitivity: '' is not a distance from 0.1 to 1,000 km"),
    ],
)
def test_cli_bad_options_one_line(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, "share", *SLICE, "--out", tmp_path, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert message in err and err.startswith("footprint: error: "), err


# Clusters of up to S PCNs: the partition model against brute force ---------------------------


def cluster_case(seed: int, n: int = 7) -> tuple[nx.Graph, dict[tuple[str, str], tuple[float, int]]]:
    """A random PCN graph (each PCN one to three practices as bases) and a random reach table."""
    rng = random.Random(seed)
    pcns = nx.Graph()
    for i in range(n):
        bases = tuple(f"B{i}{k}" for k in range(rng.choice([1, 2, 3])))
        pcns.add_node(
            f"n{i}",
            list_size=rng.randrange(5_000, 40_000),
            practices=rng.choice([1, 2, 3, 4]),
            ccg_code="X",
            members=bases,
            bases=bases,
        )
    nodes = list(pcns)
    for a, b in itertools.combinations(nodes, 2):
        if rng.random() < 0.4:
            pcns.add_edge(a, b)
    reach = {}
    for p in nodes:
        for b in pcns.nodes[p]["bases"]:
            for q in nodes:
                if q == p or rng.random() < 0.7:
                    reach[b, q] = (1.0, rng.randrange(0, 10**9) if q != p else rng.randrange(0, 10**8))
    return pcns, reach


def alone_cost(pcns: nx.Graph, p: str, reach) -> int:
    own = sorted((reach[b, p][0], reach[b, p][1], b) for b in pcns.nodes[p]["bases"] if (b, p) in reach)
    return own[0][1] if own else 0


def cluster_cost(pcns: nx.Graph, cluster: list[str], reach, limits) -> int | None:
    """Return the least patient-metres of a cluster meeting the rules, or ``None``."""
    if len(cluster) == 1:
        return alone_cost(pcns, cluster[0], reach)
    max_pcns, max_patients, max_practices = limits
    patients = sum(pcns.nodes[p]["list_size"] for p in cluster)
    practices = sum(pcns.nodes[p]["practices"] for p in cluster)
    if (
        len(cluster) > max_pcns
        or (max_patients is not None and patients > max_patients)
        or (max_practices is not None and practices > max_practices)
        or not nx.is_connected(pcns.subgraph(cluster))
    ):
        return None
    costs = [
        sum(reach[b, q][1] for q in cluster)
        for p in cluster
        for b in pcns.nodes[p]["bases"]
        if all((b, q) in reach for q in cluster)
    ]
    return min(costs, default=None)


def brute_force_clusters(pcns: nx.Graph, reach, limits) -> tuple[int, int]:
    """Return (fewest posts, least patient-metres) over every partition into allowed clusters."""
    return best_over_partitions(list(pcns), lambda c: cluster_cost(pcns, c, reach, limits))


@pytest.mark.parametrize(
    ("seed", "limits"),
    [
        (0, (3, None, None)),
        (1, (3, 60_000, None)),
        (2, (2, None, None)),
        (3, (4, None, 7)),
        (4, (3, 50_000, 6)),
        (5, (7, None, None)),
        (6, (3, None, None)),
        (7, (4, 70_000, 8)),
    ],
)
def test_cluster_optimum_matches_brute_force(seed, limits):
    from footprint.config import SolveOptions
    from footprint.partition import cluster_groups

    pcns, reach = cluster_case(seed)
    max_pcns, max_patients, max_practices = limits
    plan = cluster_groups(
        pcns,
        max_pcns=max_pcns,
        max_patients=max_patients,
        max_practices=max_practices,
        reach=reach,
        options=SolveOptions(workers=1, processes=1, seed=0),
    )
    groups = plan.groups
    assert sorted(plan.assignment) == sorted(pcns)
    cost = 0
    for cluster, members in groups.items():
        members = sorted(members)
        base = plan.info["base"][cluster]
        assert cluster_cost(pcns, members, reach, limits) is not None  # limits respected
        if len(members) > 1:
            # the base is one of its PCNs' and reaches every member
            assert any(base in pcns.nodes[p]["bases"] for p in members)
            assert all((base, q) in reach for q in members)
            cost += sum(reach[base, q][1] for q in members)
        else:
            cost += alone_cost(pcns, members[0], reach)
    assert (len(groups), cost) == brute_force_clusters(pcns, reach, limits)
    for status in plan.info["status"].values():
        assert status["status"] == "OPTIMAL" and all(s["proven"] for s in status["stages"])


def test_cluster_groups_errors():
    from footprint.partition import cluster_groups

    pcns, reach = cluster_case(0)
    with pytest.raises(DataError, match=r"max_pcns 0 must be at least 1"):
        cluster_groups(pcns, max_pcns=0, max_patients=None, max_practices=None, reach=reach)
    del pcns.nodes["n0"]["bases"]
    with pytest.raises(DataError, match=r"PCN node\(s\) n0 lack one of list_size, practices, bases"):
        cluster_groups(pcns, max_pcns=3, max_patients=None, max_practices=None, reach=reach)
    with pytest.raises(TypeError, match=r"pcns must be a networkx Graph of PCNs, dict was given instead"):
        cluster_groups({}, max_pcns=3, max_patients=None, max_practices=None, reach=reach)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- issue 26: report and map


def two_ccg_graph() -> tuple[nx.Graph, Plan]:
    """Four one-practice PCNs in a row, the line between CCGs X and Y crossing PCN q (B in X, B2 in Y).

    ::

        A (0, 0) -- B (2, 0) -- B2 (3, 0) -- C (6, 0) -- D (9, 0)
          p X        q X          q Y          r Y         s Y
    """
    g = nx.Graph()
    for code, x, ccg in [
        ("A", 0, "X"),
        ("B", 2_000, "X"),
        ("B2", 3_000, "Y"),
        ("C", 6_000, "Y"),
        ("D", 9_000, "Y"),
    ]:
        g.add_node(code, x=float(x), y=0.0, list_size=20_000, ccg_code=ccg, practice_name=f"Practice {code}")
    g.add_edges_from([("A", "B"), ("B", "B2"), ("B2", "C"), ("C", "D")], type="rook")
    return g, Plan({"A": "p", "B": "q", "B2": "q", "C": "r", "D": "s"})


def test_posts_by_ccg_counts_each_post_on_every_map_it_touches():
    from footprint.share import CCG_COLUMNS, posts_by_ccg

    g, plan = two_ccg_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=5, across_ccgs=True))
    posts = {frozenset(p.split()) for p in result.posts_table()["pcns"]}
    assert posts == {frozenset("pq"), frozenset("rs")}
    table = posts_by_ccg(result, plan, g, ["X", "Y", "Z"]).set_index("ccg_code")
    assert tuple(table.reset_index().columns) == CCG_COLUMNS
    assert table.loc["X", ["pcns", "cd_posts", "shared_posts", "keep_own"]].tolist() == [2, 1, 1, 0]
    assert table.loc["Y", ["pcns", "cd_posts", "shared_posts", "keep_own"]].tolist() == [
        3,
        2,
        2,
        0,
    ]  # q across
    assert table.loc["Z", "cd_posts"] == 0  # a CCG asked for with no post is listed, empty
    base_pq = result.posts_table().set_index("pcns").loc["p q", "base"]
    far_in_x = max(abs(g.nodes[c]["x"] - g.nodes[base_pq]["x"]) for c in ("A", "B")) / 1000
    assert table.loc["X", "furthest_km"] == pytest.approx(far_in_x)


def test_map_overlay_is_a_star_per_post_in_its_own_colour_dashed_over_water():
    """Issue 26: clusters drawn as tangled dashed lines in one colour; the bridge not shown on the map."""
    from footprint.cli.share import POST_COLOURS, shared_cd_overlay

    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=50, cluster_size=3))
    overlay = shared_cd_overlay(result, plan, g, ccgs=["X"], report="../share/report.html")
    assert overlay.dash == ""  # solid lines, on a casing
    assert {(line.start, line.practice) for line in overlay.lines} == {((3_000.0, 0.0), c) for c in "ACD"}
    dashes = {line.practice: line.dash for line in overlay.lines}
    assert dashes == {"A": None, "C": None, "D": "6 5"}  # D is joined to B only across the bridge
    assert "only across a bridge" in next(line.tip for line in overlay.lines if line.practice == "D")
    assert {line.colour for line in overlay.lines} == {POST_COLOURS[0]} == set(overlay.colours.values())
    rows = dict(overlay.summary["X"])
    assert rows["CD posts"] == "1 for 3 PCNs" and rows["Distances"] == "straight lines, not roads"
    assert rows["Over water"] == "1 practice joined to the base only across a bridge"
    assert overlay.links == [("Report of the CD sharing", "../share/report.html")]
    assert "straight lines, not roads" in overlay.legend


def test_neighbouring_posts_take_different_colours():
    from footprint.cli.share import shared_cd_overlay

    g, plan = two_ccg_graph()
    result = share_plan(plan, g, options=ShareOptions(max_km=5, across_ccgs=True))
    overlay = shared_cd_overlay(result, plan, g)
    by_post = {line.tip.split(":")[0]: line.colour for line in overlay.lines}
    assert len(by_post) == 2 and len(set(by_post.values())) == 2  # pq and rs touch (B2 -- C)
    assert overlay.summary == {} and overlay.links == []


def test_cli_share_maps_and_report_link_each_other(capsys, tmp_path):
    out, maps = tmp_path / "out", tmp_path / "maps"
    code, _, _ = run_cli(capsys, "share", *SLICE, "--ccg", "99F", "--out", out, "--maps", maps)
    assert code == 0
    page = (maps / "99F.html").read_text()
    assert "..\\/out\\/report.html" in page or "../out/report.html" in page
    index = (maps / "index.html").read_text()
    assert 'class="fp-index-overlay"' in index and '<a href="../out/report.html">' in index
    report = (out / "report.html").read_text()
    assert '<a href="../maps/index.html">' in report and "dashed where the member is joined" in report
