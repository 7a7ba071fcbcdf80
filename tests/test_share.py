from __future__ import annotations

import csv
import itertools
import json
import random

import networkx as nx
import pytest

from footprint.cli import main
from footprint.errors import DataError
from footprint.plan import Plan
from footprint.render.share_report import sensitivity_svg, share_report_html
from footprint.share import (
    ARRANGEMENT_COLUMNS,
    PAIR_COLUMNS,
    ShareOptions,
    cluster_reach,
    optimal_pairs,
    pcn_graph,
    rate_for_year,
    read_rates,
    share_candidates,
    share_plan,
)
from footprint.share.candidates import _connected_sets
from tests.conftest import DATA


def small_graph() -> tuple[nx.Graph, Plan]:
    """PCN p is practice A; PCN q is B and C; r is D, far to the east.

    ::

        C (3, 4) 10k
        |
        A (0, 0) 20k -- B (3, 0) 10k ------------ D (40, 0) 30k
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


def test_distances_and_funding_by_hand():
    g, plan = small_graph()
    rate = rate_for_year("2020/21")
    pairs = share_candidates(plan, g, options=ShareOptions(max_km=10, year="2020/21"), rate=rate)
    pq = pairs[pairs["pcn_b"] == "q"].iloc[0]
    # A-B 3 km, A-C 5 km, B-C 4 km: B's largest distance (4) is least, so B is the base.
    assert pq["base"] == "B" and pq["max_km"] == pytest.approx(4.0)
    # (20,000 x 3 + 10,000 x 0 + 10,000 x 4) / 40,000 = 2.5 km
    assert pq["mean_km"] == pytest.approx(2.5)
    assert (pq["patients"], pq["practices"]) == (40_000, 3)
    assert pq["wte"] == pytest.approx(0.2) and pq["sessions"] == pytest.approx(2.0)
    assert pq["gbp"] == pytest.approx(40_000 * 0.722)
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
    # mean over everyone: (100,000,000 patient-m for p+q, 0 for r) / 70,000 patients
    assert result.mean_km == pytest.approx(1e8 / 70_000 / 1000)
    lone = Plan({"A": "p", "B": "p", "C": "p", "D": "r"})
    g2 = g.copy()
    g2.remove_edge("B", "D")
    assert share_plan(lone, g2).keep_own == {"p": "no neighbouring PCN", "r": "no neighbouring PCN"}


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
    for cluster, rows in result.arrangement.groupby("cluster"):
        assert rows["patients"].iloc[0] <= 80_000, cluster


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


def brute_force(
    pcns: list[str], allowed: dict[tuple[str, str], int], single: dict[str, int]
) -> tuple[int, int]:
    """Return (fewest posts, least patient-metres) over every matching of the allowed pairs."""
    best = (len(pcns), sum(single.values()))
    edges = list(allowed)
    for k in range(1, len(pcns) // 2 + 1):
        for chosen in itertools.combinations(edges, k):
            used = [p for e in chosen for p in e]
            if len(set(used)) < len(used):
                continue
            cost = sum(single.values()) - sum(single[a] + single[b] - allowed[a, b] for a, b in chosen)
            best = min(best, (len(pcns) - k, cost))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_pairing_optimum_matches_brute_force(seed):
    g, plan = random_case(seed)
    options = ShareOptions(max_km=12, max_patients=70_000)
    result = share_plan(plan, g, options=options)
    pairs = result.candidates[result.candidates["meets_limits"]]
    allowed = {(a, b): int(c) for a, b, c in pairs[["pcn_a", "pcn_b", "cost"]].itertuples(index=False)}
    single = result.singles["cost"].to_dict()
    posts, cost = brute_force(list(result.singles.index), allowed, single)
    assert result.cd_posts == posts
    assert result.arrangement.drop_duplicates("cluster")["cost"].sum() == cost
    # every shared cluster is an allowed pair of neighbours
    for _, rows in result.arrangement[result.arrangement["pcns"] > 1].groupby("cluster"):
        assert tuple(sorted(rows["pcn_id"])) in allowed


def test_optimal_pairs_prefers_cardinality_over_distance():
    # p-q is very cheap, but taking it leaves r and s unpaired: p-r and q-s give two posts fewer.
    pairs = {("p", "q"): 0, ("p", "r"): 900, ("q", "s"): 900}
    import pandas as pd

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


def test_cluster_reach():
    g, plan = small_graph()
    reach = cluster_reach(pcn_graph(plan, g), g, max_km=4.5)
    assert reach["B", "q"] == (4.0, 10_000 * 4_000)
    assert ("A", "q") not in reach and ("B", "r") not in reach


def test_merged_year_reports_wte_only():
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(year="2024/25"))
    assert result.candidates["gbp"].isna().all()
    assert "merged into core PCN funding" in result.summary()["notes"][0]


def test_rates_override(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("year,gbp_per_patient\n2030/31,1.00\n")
    g, plan = small_graph()
    result = share_plan(plan, g, options=ShareOptions(year="2030/31"), rates=path)
    assert result.singles.loc["r", "gbp"] == 30_000.0


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
    with pytest.raises(DataError, match=r"rates file .* does not exist"):
        read_rates(tmp_path / "missing.csv")


def test_report_escapes_and_plots():
    g, plan = small_graph()
    result = share_plan(plan, g, names={"p": "<script>alert(1)</script>"})
    page = share_report_html(result)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "<polyline" in page
    svg = sensitivity_svg(result.sensitivity)
    assert svg.count("<circle") == len(result.sensitivity)


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


def test_cli_on_slice(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "share"
    code, stdout, _ = run_cli(capsys, "share", *SLICE, "--out", out, "--no-maps", "--year", "2020/21")
    assert code == 0
    assert "optimal arrangement (proven)" in stdout and "CD posts by distance limit" in stdout
    with (out / "pairs.csv").open() as fh:
        pairs = list(csv.DictReader(fh))
    assert tuple(pairs[0]) == PAIR_COLUMNS and pairs
    with (out / "arrangement.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0])[: len(ARRANGEMENT_COLUMNS)] == ARRANGEMENT_COLUMNS
    assert any(r["pcn_name"] == "BENFLEET PCN" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arrangement"]["cd_posts"] == len({r["cluster"] for r in rows})
    assert summary["rate"]["gbp_per_patient"] == 0.722 and summary["maps"] == {}  # --no-maps
    assert "<svg" in (out / "report.html").read_text()


def test_cli_clusters(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "share"
    code, stdout, _ = run_cli(
        capsys,
        "share",
        *SLICE,
        "--out",
        out,
        "--cluster-size",
        "3",
        "--ccg",
        "99F",
        "99G",
        "--sensitivity",
        "20,5,10",
    )
    assert code == 0 and "optimal arrangement (proven)" in stdout
    summary = json.loads((out / "summary.json").read_text())
    # The sensitivity table re-solves the clusters at each limit, in order; 10 km is the arrangement.
    table = summary["sensitivity"]
    assert [r["max_km"] for r in table] == [5.0, 10.0, 20.0] and all(r["proven"] for r in table)
    assert table[1]["cd_posts"] == summary["arrangement"]["cd_posts"]
    assert "shared clusters</th>" in (out / "report.html").read_text()
    assert summary["arrangement"]["proven"] and "clusters of up to 3" in summary["arrangement"]["method"]
    assert (out / "clusters.csv").exists()
    with (out / "arrangement.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert summary["arrangement"]["cd_posts"] == len({r["cluster"] for r in rows})
    sizes = {}
    for r in rows:
        sizes[r["cluster"]] = sizes.get(r["cluster"], 0) + 1
    assert max(sizes.values()) <= 3
    assert all(float(r["max_km"]) <= 10 for r in rows if sizes[r["cluster"]] > 1)
    assert all(r["reason"] for r in rows if sizes[r["cluster"]] == 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--max-km", "0"),
            "argument --max-km: '0' is not a distance from 0.1 to 1,000 km",
        ),
        (
            ("--max-km=-3",),
            "argument --max-km: '-3' is not a distance from 0.1 to 1,000 km",
        ),
        (("--max-km", "nan"), "footprint: error: argument --max-km: 'nan' is not a distance"),
        (("--max-patients", "1.5"), "footprint: error: argument --max-patients: '1.5' is not a whole number"),
        (("--year", "2031/32"), "footprint: error: no CD payment rate for --year 2031/32: known years are"),
        (("--base", "F81999"), "footprint: error: --base practice(s) F81999 (not a practice of the plan)"),
        (("--cluster-size", "9"), "footprint: error: --cluster-size 9 must lie between 2"),
        (("--sensitivity", "5,0"), "argument --sensitivity: '0' is not a distance from 0.1 to 1,000 km"),
        (("--sensitivity", ""), "argument --sensitivity: '' is not a distance from 0.1 to 1,000 km"),
    ],
)
def test_cli_bad_options_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
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


def set_partitions(items: list[str]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        yield [[first], *part]
        for k in range(len(part)):
            yield [*part[:k], [first, *part[k]], *part[k + 1 :]]


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
    best = None
    for partition in set_partitions(sorted(pcns)):
        costs = [cluster_cost(pcns, c, reach, limits) for c in partition]
        if all(c is not None for c in costs):
            value = (len(partition), sum(c for c in costs if c is not None))
            best = value if best is None or value < best else best
    assert best is not None
    return best


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


@pytest.mark.parametrize("seed", range(4))
def test_share_clusters_match_brute_force(seed):
    g, plan = random_case(seed)
    options = ShareOptions(max_km=12, max_patients=90_000, cluster_size=3)
    result = share_plan(plan, g, options=options)
    pcns = pcn_graph(plan, g)
    reach = cluster_reach(pcns, g, max_km=12)
    for p, members in pcns.nodes(data="members"):
        pcns.nodes[p]["bases"] = tuple(members)
        pcns.nodes[p]["alone_cost"] = int(result.singles.loc[p, "cost"])
    posts, _ = brute_force_clusters(pcns, reach, (3, 90_000, None))
    assert result.cd_posts == posts and result.proven
    for _, rows in result.arrangement.groupby("cluster"):
        assert len(rows) <= 3
        if len(rows) > 1:
            assert rows["patients"].iloc[0] <= 90_000 and rows["max_km"].iloc[0] <= 12 + 1e-9
        else:
            assert rows["reason"].iloc[0]


@pytest.mark.parametrize("seed", range(3))
def test_cluster_sensitivity_matches_brute_force(seed):
    g, plan = random_case(seed)
    options = ShareOptions(max_km=12, cluster_size=3, sensitivity_km=(6.0, 12.0, 30.0))
    steps: list[str] = []
    result = share_plan(plan, g, options=options, progress=steps.append)
    assert steps == ["arrangement", "6 km", "12 km", "30 km"]
    pcns = pcn_graph(plan, g)
    for p, members in pcns.nodes(data="members"):
        pcns.nodes[p]["bases"] = tuple(members)
        pcns.nodes[p]["alone_cost"] = int(result.singles.loc[p, "cost"])
    table = result.sensitivity.set_index("max_km")
    for km in (6.0, 12.0, 30.0):
        posts, _ = brute_force_clusters(pcns, cluster_reach(pcns, g, max_km=km), (3, None, None))
        assert table.loc[km, "cd_posts"] == posts and table.loc[km, "proven"]
    # The limit of the arrangement itself is the arrangement's own count.
    assert table.loc[12.0, "cd_posts"] == result.cd_posts
    assert list(table["cd_posts"]) == sorted(table["cd_posts"], reverse=True)
    assert "sensitivity table share CDs in clusters of up to 3" in " ".join(result.notes)


def test_pair_sensitivity_counts_pairs():
    g, plan = random_case(0)
    result = share_plan(plan, g, options=ShareOptions(max_km=12, sensitivity_km=(12.0,)))
    row = result.sensitivity.iloc[0]
    assert row["cd_posts"] == result.cd_posts and row["shared"] == len(result.arrangement) - result.cd_posts
    assert row["proven"]


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
