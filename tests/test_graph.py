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
