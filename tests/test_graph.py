from __future__ import annotations

import logging

import networkx as nx
import pytest

from footprint.errors import GraphError
from footprint.graph import bridges, cells, graph_from_practices, pieces_before_bridging
from footprint.load import read_boundaries, read_practices
from tests.conftest import assert_graph_invariants, grid_rows, write_boxes, write_practices


def edge_set(graph: nx.Graph, kind: str | None = None) -> set[frozenset[str]]:
    return {frozenset((a, b)) for a, b, t in graph.edges(data="type") if kind is None or t == kind}


def test_grid_gives_rook_neighbours(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    expected = {
        frozenset(p)
        for p in [
            ("A1", "A2"),
            ("A2", "A3"),
            ("B1", "B2"),
            ("B2", "B3"),
            ("C1", "C2"),
            ("C2", "C3"),
            ("A1", "B1"),
            ("B1", "C1"),
            ("A2", "B2"),
            ("B2", "C2"),
            ("A3", "B3"),
            ("B3", "C3"),
        ]
    }
    assert edge_set(graph) == expected
    assert edge_set(graph, "rook") == expected
    assert graph.nodes["B2"]["list_size"] == 20_000
    assert cells(graph)["B2"].area == pytest.approx(1e6)
    assert_graph_invariants(graph, practices)


def test_colocated_practices_share_cell_and_form_clique(tmp_path, build):
    rows = grid_rows([[5_000, 6_000], [7_000, 8_000]])
    for code in ("S1", "S2"):  # two more practices in A1's building
        rows.append(dict(rows[0], practice_code=code, practice_name=f"Shared {code}"))
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    boundaries = read_boundaries(write_boxes(tmp_path / "b.gpkg", {"GRD": (0, 0, 2, 2)}))
    graph = build(practices, boundaries)
    site = {frozenset(("A1", "S1")), frozenset(("A1", "S2")), frozenset(("S1", "S2"))}
    assert edge_set(graph, "site") == site
    assert cells(graph)["S1"].equals(cells(graph)["A1"])
    # each building practice neighbours A1's rook neighbours
    assert set(graph["S2"]) == {"A1", "S1", "A2", "B1"}
    assert_graph_invariants(graph, practices)


def test_separated_pieces_are_bridged_with_length(tmp_path, build, caplog):
    """Two 2 x 1 km islands, 3 km of water apart, in one CCG; A2 and A3 are 4 km apart::

    [A1 A2]   water   [A3 A4]
    """
    rows = grid_rows([[5_000, 6_000]], ccg="ISL") + [
        dict(r, practice_code=f"A{int(r['practice_code'][1]) + 2}")
        for r in grid_rows([[7_000, 8_000]], ccg="ISL", dx=5_000)
    ]
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    import geopandas as gpd
    import shapely

    from tests.conftest import KM, X0, Y0

    islands = shapely.union(
        shapely.box(X0, Y0, X0 + 2 * KM, Y0 + KM), shapely.box(X0 + 5 * KM, Y0, X0 + 7 * KM, Y0 + KM)
    )
    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame({"ccg_code": ["ISL"]}, geometry=[islands], crs="EPSG:27700").to_file(path)
    with caplog.at_level(logging.INFO, logger="footprint.graph"):
        graph = build(practices, read_boundaries(path))
    assert pieces_before_bridging(graph) == {"ISL": 2}
    (bridge,) = bridges(graph)
    assert {bridge.a, bridge.b} == {"A2", "A3"}
    assert bridge.length_km == pytest.approx(4.0)
    assert graph.edges["A2", "A3"] == {"type": "bridge", "length_km": 4.0}
    assert "bridged A2" in caplog.text and "4.0 km" in caplog.text
    assert_graph_invariants(graph, practices)


def test_two_ccgs_meet_with_cross_ccg_edges(tmp_path, build):
    rows = grid_rows([[5_000, 6_000]], ccg="WWW") + [
        dict(r, practice_code=f"E{r['practice_code']}")
        for r in grid_rows([[7_000, 8_000]], ccg="EEE", dx=2_000)
    ]
    practices = read_practices(write_practices(tmp_path / "p.csv", rows))
    boundaries = read_boundaries(write_boxes(tmp_path / "b.gpkg", {"WWW": (0, 0, 2, 1), "EEE": (2, 0, 4, 1)}))
    graph = build(practices, boundaries)
    assert edge_set(graph, "cross_ccg") == {frozenset(("A2", "EA1"))}
    assert edge_set(graph, "rook") == {frozenset(("A1", "A2")), frozenset(("EA1", "EA2"))}
    assert_graph_invariants(graph, practices)


def test_unknown_ccg_uses_hull_with_warning(tmp_path, build, caplog):
    practices = read_practices(
        write_practices(tmp_path / "p.csv", grid_rows([[5_000, 6_000], [1_000, 2_000]]))
    )
    boundaries = read_boundaries(write_boxes(tmp_path / "b.gpkg", {"OTHER": (10, 10, 11, 11)}))
    with caplog.at_level(logging.WARNING, logger="footprint.graph"):
        graph = build(practices, boundaries)
    assert "CCG GRD (GRD) is not in the boundaries" in caplog.text
    assert len(edge_set(graph, "rook")) == 4
    assert_graph_invariants(graph, practices)


def test_practices_must_be_in_british_national_grid(grid3, build):
    practices, boundaries = grid3
    with pytest.raises(GraphError, match="must be in EPSG:27700"):
        build(practices.to_crs("EPSG:4326"), boundaries)


def test_slice_invariants(slice_graph, slice_practices):
    assert_graph_invariants(slice_graph, slice_practices)
    pieces = pieces_before_bridging(slice_graph)
    # Canvey Island (99F) and the two banks of the Mersey at Runcorn/Widnes (01F)
    assert pieces["99F"] == 2 and pieces["01F"] == 2 and pieces["99G"] == 1
    spans = {b.ccg_code: b for b in bridges(slice_graph)}
    assert set(spans) == {"99F", "01F"}
    canvey = spans["99F"]
    assert "F81051" in (canvey.a, canvey.b)  # Third Avenue Health Centre, Canvey Island
    assert 1 < canvey.length_km < 5
    assert edge_set(slice_graph, "cross_ccg")  # Castle Point and Rochford meets Southend


def test_slice_colocated_practices_are_cliques(slice_graph, slice_practices):
    groups = slice_practices.groupby(
        ["ccg_code", slice_practices.geometry.x, slice_practices.geometry.y]
    ).groups
    shared = [list(codes) for codes in groups.values() if len(codes) > 1]
    assert shared
    for codes in shared:
        for i, a in enumerate(codes):
            for b in codes[i + 1 :]:
                assert slice_graph.edges[a, b]["type"] == "site"
        assert len({cells(slice_graph)[c].wkb for c in codes}) == 1


def test_cache_round_trip(grid3, tmp_path, caplog):
    practices, boundaries = grid3
    first = graph_from_practices(practices, boundaries, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("graph-*.pickle"))) == 1
    with caplog.at_level(logging.INFO, logger="footprint.graph"):
        second = graph_from_practices(practices, boundaries, cache_dir=tmp_path)
    assert "graph read from cache" in caplog.text
    assert edge_set(first) == edge_set(second)
    changed = practices.copy()
    changed.loc["A1", "list_size"] = 1
    graph_from_practices(changed, boundaries, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("graph-*.pickle"))) == 2


# Neighbours by shared patients (issue 27, part 3).


def _lsoa_grid(rows: int = 3, cols: int = 3):
    """LSOAs ``L<row><col>`` as 1 km squares on the practices' grid, row 0 at the bottom."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    from footprint.areas import lsoa_adjacency
    from tests.conftest import KM, X0, Y0

    codes = [f"L{r}{c}" for r in range(rows) for c in range(cols)]
    boxes = np.array(
        [
            shapely.box(X0 + c * KM, Y0 + r * KM, X0 + (c + 1) * KM, Y0 + (r + 1) * KM)
            for r in range(rows)
            for c in range(cols)
        ]
    )
    centres = shapely.centroid(boxes)
    lsoas = gpd.GeoDataFrame(
        {"cx": shapely.get_x(centres), "cy": shapely.get_y(centres)},
        geometry=boxes,
        index=pd.Index(codes, name="lsoa_code"),
        crs="EPSG:27700",
    )
    lsoas.attrs["adjacency"] = lsoa_adjacency(boxes)
    return lsoas


def _registrations(rows: list[tuple[str, str, int]]):
    import pandas as pd

    return pd.DataFrame(rows, columns=["practice_code", "lsoa_code", "patients"])


@pytest.fixture
def six(tmp_path):
    """Six practices on a 2 x 3 grid (cells 1 km squares) and where their patients live::

        A1  A2  A3          LSOAs   L20 L21 L22     A1 lives in L00, B2 in L01 (touching L00),
        B1  B2  B3                  L10 L11 L12     A2 in L22, B1 in L12 (touching L22);
                                    L00 L01 L02     A3 and B3 are not in the registrations.

    By patients A1-B2 and A2-B1 are neighbours, though their cells only meet at a corner.
    """
    practices = read_practices(
        write_practices(tmp_path / "p.csv", grid_rows([[5_000, 5_000, 5_000], [5_000, 5_000, 5_000]]))
    )
    boundaries = read_boundaries(write_boxes(tmp_path / "b.gpkg", {"GRD": (0, 0, 3, 2)}))
    registrations = _registrations(
        [("A1", "L00", 900), ("B2", "L01", 800), ("A2", "L22", 700), ("B1", "L12", 600), ("A1", "L22", 30)]
    )
    return practices, boundaries, registrations, _lsoa_grid()


def test_patients_graph_joins_practices_sharing_patients(six, tmp_path):
    practices, boundaries, registrations, lsoas = six
    graph = graph_from_practices(
        practices,
        boundaries,
        neighbours="patients",
        registrations=registrations,
        lsoas=lsoas,
        cache_dir=tmp_path / "cache",
    )
    assert graph.graph["neighbours"] == "patients"
    assert edge_set(graph, "patients") == {frozenset(("A1", "B2")), frozenset(("A2", "B1"))}
    # A3 and B3 are in no registration: they keep their cells' borders; no rook edge joins two
    # practices the patients join (A1-A2, B1-B2, A1-B1 and A2-B2 are gone).
    assert edge_set(graph, "rook") == {frozenset(p) for p in [("A2", "A3"), ("A3", "B3"), ("B2", "B3")]}
    assert graph.edges["A1", "B2"] == {"type": "patients", "patients": 1_700, "share": 2.125}
    # A1's 30 patients in L22 (4 % of its residents) are no core: A1 and A2 stay apart.
    assert not graph.has_edge("A1", "A2")
    assert cells(graph)["B2"].area == pytest.approx(1e6)
    assert bridges(graph) == []
    assert_graph_invariants(graph, practices)


def test_patients_graph_bridges_what_neither_rule_joins(six, tmp_path):
    practices, boundaries, registrations, lsoas = six
    practices = practices.drop(index=["A3", "B3"])  # nothing left to join A1-B2 to A2-B1
    boundaries = read_boundaries(write_boxes(tmp_path / "b2.gpkg", {"GRD": (0, 0, 2, 2)}))
    graph = graph_from_practices(
        practices,
        boundaries,
        neighbours="patients",
        registrations=registrations,
        lsoas=lsoas,
        use_cache=False,
    )
    assert pieces_before_bridging(graph) == {"GRD": 2}
    assert len(bridges(graph)) == 1
    assert edge_set(graph, "rook") == set()
    assert_graph_invariants(graph, practices)


def test_patients_graph_is_cached_apart_from_cells(six, tmp_path, caplog):
    practices, boundaries, registrations, lsoas = six
    cache = tmp_path / "cache"
    kwargs = {"registrations": registrations, "lsoas": lsoas, "cache_dir": cache}
    by_cells = graph_from_practices(practices, boundaries, cache_dir=cache)
    first = graph_from_practices(practices, boundaries, neighbours="patients", **kwargs)
    assert len(list(cache.glob("graph-*.pickle"))) == 2
    with caplog.at_level(logging.INFO, logger="footprint.graph"):
        second = graph_from_practices(practices, boundaries, neighbours="patients", **kwargs)
    assert "graph read from cache" in caplog.text
    assert edge_set(second) == edge_set(first) != edge_set(by_cells)
    fewer = registrations[registrations["practice_code"] != "B1"]
    changed = graph_from_practices(
        practices, boundaries, neighbours="patients", registrations=fewer, lsoas=lsoas, cache_dir=cache
    )
    assert len(list(cache.glob("graph-*.pickle"))) == 3
    assert not changed.has_edge("A2", "B1")


def test_unknown_neighbours_rule_is_refused(grid3):
    practices, boundaries = grid3
    with pytest.raises(GraphError, match="neighbours 'voronoi' is not one of cells, patients"):
        graph_from_practices(practices, boundaries, neighbours="voronoi", use_cache=False)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def slice_patients_graph(slice_practices, slice_boundaries, tmp_path_factory):
    """The slice's graph by shared patients, from the slice's registrations and LSOAs."""
    from tests.conftest import DATA

    return graph_from_practices(
        slice_practices,
        slice_boundaries,
        neighbours="patients",
        registrations=DATA / "lsoa_registrations_slice.csv.gz",
        lsoas=DATA / "lsoa_slice.npz",
        cache_dir=tmp_path_factory.mktemp("cache"),
    )


def test_slice_patients_graph_keeps_the_graph_contract(slice_patients_graph, slice_graph, slice_practices):
    graph = slice_patients_graph
    assert_graph_invariants(graph, slice_practices)
    assert cells(graph).equals(cells(slice_graph))
    assert dict(graph.nodes(data=True)) == dict(slice_graph.nodes(data=True))
    assert graph.graph["ccg_names"] == slice_graph.graph["ccg_names"]
    assert edge_set(graph, "site") == edge_set(slice_graph, "site")
    kinds = {t for _, _, t in graph.edges(data="type")}
    assert "patients" in kinds and kinds <= {"patients", "site", "rook", "cross_ccg", "bridge"}
    for a, b, data in graph.edges(data=True):
        if data["type"] == "patients":
            assert data["share"] >= 0.5 and data["patients"] > 0, (a, b)


def test_plan_and_check_work_on_the_patients_graph(slice_patients_graph):
    from footprint.config import SolveOptions
    from footprint.evaluate import check_plan
    from footprint.partition import solve_plan

    graph = slice_patients_graph.subgraph(
        [n for n, c in slice_patients_graph.nodes(data="ccg_code") if c == "99G"]
    ).copy()
    plan = solve_plan(graph, options=SolveOptions(workers=1, processes=1, seed=0, time_limit_s=5))
    assert check_plan(plan, graph) == []
    assert sorted(plan.assignment) == sorted(graph.nodes)


def test_graph_command_writes_patient_weights(capsys, tmp_path, monkeypatch):
    import csv

    from footprint.cli import main
    from tests.conftest import DATA

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["graph", "--practices", DATA / "practices_slice.csv", "--boundaries", DATA / "ccg_slice.geojson"]
    argv += ["--impute-missing", "--out", tmp_path, "--neighbours", "patients"]
    argv += ["--lsoa-registrations", DATA / "lsoa_registrations_slice.csv.gz"]
    argv += ["--lsoa-boundaries", DATA / "lsoa_slice.npz"]
    code = main([str(a) for a in argv])
    out = capsys.readouterr().out
    assert code == 0
    assert "every CCG connected; neighbours by patients" in out
    with (tmp_path / "edges.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["a", "b", "type", "border_m", "length_km", "patients", "share"]
    weighted = [r for r in rows if r["type"] == "patients"]
    assert weighted and all(int(r["patients"]) > 0 and float(r["share"]) >= 0.5 for r in weighted)
