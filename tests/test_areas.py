"""Network areas from where patients live: hand-drawn grids of LSOAs and a real slice."""

from __future__ import annotations

import gzip
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from footprint.areas import (
    AreaSources,
    area_findings,
    area_summary,
    lsoa_adjacency,
    lsoa_ccgs,
    lsoa_edges,
    network_areas,
    read_lsoas,
    read_registrations,
    registrations_from_nhs,
    write_lsoas,
    write_registrations,
)
from footprint.errors import DataError
from footprint.load import CRS
from footprint.plan import Plan, plan_from_practices
from tests.conftest import DATA, KM, X0, Y0


def _grid(rows: int = 3, cols: int = 3) -> gpd.GeoDataFrame:
    """LSOAs ``L<row><col>`` as 1 km squares, row 0 at the bottom, with their adjacency and edges.

    ::

        L20 L21 L22
        L10 L11 L12
        L00 L01 L02
    """
    codes, boxes = [], []
    for r in range(rows):
        for c in range(cols):
            codes.append(f"L{r}{c}")
            boxes.append(shapely.box(X0 + c * KM, Y0 + r * KM, X0 + (c + 1) * KM, Y0 + (r + 1) * KM))
    geoms = np.array(boxes, dtype=object)
    centres = shapely.centroid(geoms)
    lsoas = gpd.GeoDataFrame(
        {"cx": shapely.get_x(centres), "cy": shapely.get_y(centres)},
        geometry=geoms,
        index=pd.Index(codes, name="lsoa_code"),
        crs=CRS,
    )
    lsoas.attrs["adjacency"] = lsoa_adjacency(geoms)
    lsoas.attrs["edge"] = lsoa_edges(geoms, lsoas.attrs["adjacency"])
    return lsoas


def _ccgs(**boxes: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """CCG polygons by code, each a box in km from the grid's origin."""
    geoms = [shapely.box(X0 + a * KM, Y0 + b * KM, X0 + c * KM, Y0 + d * KM) for a, b, c, d in boxes.values()]
    return gpd.GeoDataFrame(
        {"ccg_name": list(boxes)}, geometry=geoms, index=pd.Index(list(boxes), name="ccg_code"), crs=CRS
    )


def _practices(**where: tuple[str, float, float]) -> gpd.GeoDataFrame:
    """Practices by code: CCG and position in km from the grid's origin."""
    codes = list(where)
    return gpd.GeoDataFrame(
        {"ccg_code": [where[c][0] for c in codes], "list_size": 10_000},
        geometry=shapely.points([(X0 + where[c][1] * KM, Y0 + where[c][2] * KM) for c in codes]),
        index=pd.Index(codes, name="practice_code"),
        crs=CRS,
    )


def _registrations(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["practice_code", "lsoa_code", "patients"])


def _areas(plan: Plan, practices: gpd.GeoDataFrame, rows: list, **kwargs) -> object:
    return network_areas(
        plan,
        practices,
        boundaries=kwargs.pop("boundaries", _ccgs(X=(0, 0, 3, 3))),
        sources=AreaSources(lsoas=kwargs.pop("lsoas", _grid()), registrations=_registrations(rows)),
        use_cache=False,
        **kwargs,
    )


def _members(result, pcn: str) -> set[str]:
    return set(result.lsoas.index[result.lsoas["pcn_id"] == pcn])


def test_most_patients_wins_ties_and_empty_lsoas_go_to_the_nearest_network():
    practices = _practices(a1=("X", 0.5, 1.5), b1=("X", 2.6, 1.5))
    rows = [("a1", c, 100) for c in ("L00", "L10", "L20")] + [("b1", c, 100) for c in ("L02", "L12", "L22")]
    rows += [("a1", "L01", 50), ("b1", "L01", 50), ("a1", "L21", 60), ("b1", "L21", 30)]
    result = _areas(Plan({"a1": "A", "b1": "B"}), practices, rows)
    assert _members(result, "A") == {"L00", "L10", "L20", "L01", "L11", "L21"}
    assert _members(result, "B") == {"L02", "L12", "L22"}
    how = result.lsoas["how"]
    assert how["L01"] == "tie" and how["L11"] == "nearest" and how["L21"] == "patients"
    # No gap, no overlap: the areas tile the CCG's LSOAs.
    geoms = result.areas.geometry
    assert geoms["A"].area + geoms["B"].area == pytest.approx(9 * KM * KM)
    assert shapely.intersection(geoms["A"], geoms["B"]).area == pytest.approx(0)
    assert result.areas.loc["A", ["patients", "inside"]].tolist() == [410, 410]
    assert result.areas.loc["B", ["patients", "inside"]].tolist() == [380, 300]
    assert result.areas.loc["B", "share_inside"] == pytest.approx(300 / 380, abs=1e-4)
    assert area_findings(result).empty and result.unassigned == []


def test_an_area_in_pieces_names_each_pieces_patients():
    practices = _practices(a1=("X", 0.5, 1.5), b1=("X", 2.5, 0.5))
    rows = [("a1", c, 100) for c in ("L00", "L10", "L20")] + [("a1", "L22", 40), ("b1", "L22", 10)]
    rows += [("b1", c, 100) for c in ("L01", "L11", "L21", "L02", "L12")]
    result = _areas(Plan({"a1": "A", "b1": "B"}), practices, rows)
    assert result.areas.loc["A", "pieces"] == 2 and result.areas.loc["B", "pieces"] == 1
    pieces = result.pieces[result.pieces["pcn_id"] == "A"]
    assert pieces[["piece", "lsoas", "patients"]].to_numpy().tolist() == [[0, 3, 300], [1, 1, 40]]
    assert result.lsoas.loc["L22", "piece"] == 1
    findings = area_findings(result)
    assert findings["rule"].tolist() == ["area_pieces"] and findings["severity"].tolist() == ["warning"]
    assert findings.at[0, "group"] == "A"
    assert "2 pieces (12% of its resident patients outside the largest)" in findings.at[0, "detail"]
    assert "300 patients in 3 LSOA(s); 40 patients in 1 LSOA(s)" in findings.at[0, "detail"]
    summary = area_summary(result)
    assert summary["in_several_pieces"] == 1
    assert summary["median_share_outside_largest_piece"] == pytest.approx(40 / 340, abs=1e-4)


def test_an_area_whose_outer_boundary_touches_one_network_is_a_donut():
    practices = _practices(a1=("X", 0.5, 0.5), b1=("X", 1.5, 1.5))
    rows = [("a1", f"L{r}{c}", 100) for r in range(3) for c in range(3) if (r, c) != (1, 1)]
    rows += [("b1", "L11", 100)]
    result = _areas(Plan({"a1": "A", "b1": "B"}), practices, rows)
    assert result.enclosed == {"B": "A"}
    findings = area_findings(result)
    assert findings["rule"].tolist() == ["area_enclosed"]
    assert findings.at[0, "detail"].startswith("B's area is enclosed by A's")


def test_a_network_on_the_coast_is_no_donut():
    # B holds the middle of the top row: A on three sides, the grid's edge (sea) on the fourth.
    practices = _practices(a1=("X", 0.5, 0.5), b1=("X", 1.5, 2.5))
    rows = [("a1", f"L{r}{c}", 100) for r in range(3) for c in range(3) if (r, c) != (2, 1)]
    rows += [("b1", "L21", 100)]
    assert _areas(Plan({"a1": "A", "b1": "B"}), practices, rows).enclosed == {}


def test_a_donut_with_its_own_hole_is_still_enclosed():
    # 5 x 5: C in the centre, B the ring around it, A the outer ring: B touches only A outside.
    lsoas = _grid(5, 5)
    practices = _practices(a1=("X", 0.5, 0.5), b1=("X", 1.5, 1.5), c1=("X", 2.5, 2.5))
    rows = []
    for code in lsoas.index:
        r, c = int(code[1]), int(code[2])
        ring = max(abs(r - 2), abs(c - 2))
        rows.append(({2: "a1", 1: "b1", 0: "c1"}[ring], code, 100))
    result = _areas(
        Plan({"a1": "A", "b1": "B", "c1": "C"}),
        practices,
        rows,
        lsoas=lsoas,
        boundaries=_ccgs(X=(0, 0, 5, 5)),
    )
    assert result.enclosed == {"B": "A", "C": "B"}


def test_a_ccg_with_no_network_leaves_its_lsoas_to_none():
    practices = _practices(a1=("X", 0.5, 1.5), y1=("Y", 2.5, 1.5))
    rows = [("a1", f"L{r}{c}", 10) for r in range(3) for c in range(3)] + [("y1", "L12", 50)]
    result = _areas(
        Plan({"a1": "A", "y1": None}), practices, rows, boundaries=_ccgs(X=(0, 0, 2, 3), Y=(2, 0, 3, 3))
    )
    assert result.unassigned == ["L02", "L12", "L22"]
    assert _members(result, "A") == {"L00", "L01", "L10", "L11", "L20", "L21"}
    findings = area_findings(result)
    assert findings["rule"].tolist() == ["area_gap"] and findings.at[0, "ccg_code"] == "Y"
    assert "3 LSOA(s) of Y are left to no network" in findings.at[0, "detail"]
    # Per CCG: patients registered in X living in Y's LSOAs.
    assert result.ccgs.loc["X", ["patients", "other_ccg"]].tolist() == [90, 30]
    assert result.ccgs.loc["Y", ["patients", "other_ccg"]].tolist() == [50, 0]


def test_a_network_the_registrations_lack_keeps_its_cells():
    practices = _practices(a1=("X", 0.5, 1.5), c1=("X", 2.5, 1.5))
    cells = gpd.GeoSeries(
        [
            shapely.box(X0, Y0, X0 + 2 * KM, Y0 + 3 * KM),
            shapely.box(X0 + 2 * KM, Y0, X0 + 3 * KM, Y0 + 3 * KM),
        ],
        index=["a1", "c1"],
        crs=CRS,
    )
    rows = [("a1", "L00", 10)]
    result = _areas(Plan({"a1": "A", "c1": "C"}), practices, rows, cells=cells)
    assert result.uncovered == ("c1",)
    assert result.areas.loc["C", "area_from"] == "cells"
    assert result.areas.geometry["C"].equals(cells["c1"])
    assert len(_members(result, "A")) == 9  # the networks with patients take every LSOA


def test_lsoa_ccg_is_the_one_holding_its_centroid_else_the_nearest_close_by():
    # Just off the generalised coast: the nearest CCG; far off (a CCG the boundaries lack): none.
    lsoas = pd.DataFrame({"cx": [X0 + 500, X0 + 2_500, X0 + 3_100, X0 + 3_400]}, index=["a", "b", "c", "d"])
    lsoas["cy"] = Y0 + 500
    assert lsoa_ccgs(lsoas, _ccgs(X=(0, 0, 2, 3), Y=(2, 0, 3, 3))).tolist() == ["X", "Y", "Y", None]


def test_unknown_lsoa_codes_are_counted_with_their_patients():
    practices = _practices(a1=("X", 0.5, 1.5))
    rows = [("a1", "L00", 10), ("a1", "W01000001", 7), ("a1", "NO2011", 3), ("zz", "NO2011", 99)]
    result = _areas(Plan({"a1": "A"}), practices, rows)
    assert result.unknown_codes["patients"].to_dict() == {"W01000001": 7, "NO2011": 3}
    assert result.ccgs.loc["X", "unknown"] == 10
    assert area_summary(result)["patients_in_unknown_lsoas"] == 10


def test_areas_are_cached_and_a_new_plan_is_not_served_the_old(tmp_path, monkeypatch):
    import footprint.areas

    practices = _practices(a1=("X", 0.5, 1.5), b1=("X", 2.6, 1.5))
    sources = AreaSources(lsoas=_grid(), registrations=_registrations([("a1", "L00", 5), ("b1", "L22", 5)]))
    kwargs = {"boundaries": _ccgs(X=(0, 0, 3, 3)), "sources": sources, "cache_dir": tmp_path}
    first = network_areas(Plan({"a1": "A", "b1": "B"}), practices, **kwargs)

    def plans() -> list:
        return [p for p in tmp_path.glob("areas-*.pickle") if not p.name.startswith("areas-base-")]

    assert len(plans()) == 1 and len(list(tmp_path.glob("areas-base-*.pickle"))) == 1
    build = footprint.areas._build

    def fail(*_: object) -> None:
        pytest.fail("built again, not read from the cache")

    monkeypatch.setattr(footprint.areas, "_build", fail)
    again = network_areas(Plan({"a1": "A", "b1": "B"}), practices, **kwargs)
    assert again.lsoas.equals(first.lsoas)
    monkeypatch.setattr(footprint.areas, "_build", build)
    merged = network_areas(Plan({"a1": "A", "b1": "A"}), practices, **kwargs)
    assert set(merged.areas.index) == {"A"} and len(plans()) == 2


def test_real_slice_areas_tile_each_ccg(slice_practices, slice_boundaries, slice_graph):
    lsoas = read_lsoas(DATA / "lsoa_slice.npz")
    registrations = read_registrations(DATA / "lsoa_registrations_slice.csv.gz")
    plan = plan_from_practices(slice_practices)
    result = network_areas(
        plan,
        slice_practices,
        boundaries=slice_boundaries,
        sources=AreaSources(lsoas=lsoas, registrations=registrations),
        cells=slice_graph.graph["cells"],
        use_cache=False,
    )
    assert set(result.areas.index) == set(plan.groups)
    assert result.unassigned == [] and len(result.lsoas) == len(lsoas)
    geoms = result.areas.geometry[result.areas["area_from"] == "patients"]
    assert geoms.area.sum() == pytest.approx(shapely.union_all(geoms.to_numpy()).area, rel=1e-9)
    assert shapely.union_all(geoms.to_numpy()).area == pytest.approx(lsoas.area.sum(), rel=1e-9)
    assert ((result.areas["share_inside"] > 0.3) & (result.areas["share_inside"] <= 1)).all()
    # Patients of the slice's practices living in LSOAs outside the slice are reported, not dropped.
    mine = registrations[registrations["practice_code"].isin(slice_practices.index)]
    outside = mine[~mine["lsoa_code"].isin(lsoas.index)]["patients"].sum()
    assert result.unknown_codes["patients"].sum() == outside > 0
    assert set(result.ccgs.index) == {"01F", "99F", "99G"}


def test_lsoas_round_trip_through_the_compact_form(tmp_path):
    lsoas = read_lsoas(DATA / "lsoa_slice.npz")
    path = write_lsoas(lsoas, tmp_path / "l.npz")
    again = read_lsoas(path)
    assert again.index.equals(lsoas.index) and (again.geometry.geom_equals(lsoas.geometry)).all()
    assert np.array_equal(again.attrs["adjacency"], lsoas.attrs["adjacency"])
    # Neighbours still share whole borders after simplification: no LSOA is an island.
    assert len(set(lsoas.attrs["adjacency"].ravel())) == len(lsoas)


def test_lsoas_from_geojson_find_their_code_column(tmp_path):
    grid = _grid(2, 2).rename_axis("LSOA11CD").reset_index()[["LSOA11CD", "geometry"]]
    grid.to_crs("EPSG:4326").to_file(tmp_path / "l.geojson", driver="GeoJSON")
    lsoas = read_lsoas(tmp_path / "l.geojson")
    assert list(lsoas.index) == ["L00", "L01", "L10", "L11"] and lsoas.crs.to_string() == CRS
    assert len(lsoas.attrs["adjacency"]) == 4 and lsoas.attrs["edge"].all()
    grid.rename(columns={"LSOA11CD": "zone"}).to_file(tmp_path / "bad.geojson", driver="GeoJSON")
    with pytest.raises(DataError, match=r"have no code column .*columns: zone"):
        read_lsoas(tmp_path / "bad.geojson")


def test_registration_files_are_checked(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("practice_code,lsoa_code\nA1,E01000001\n")
    with pytest.raises(DataError, match=r"lack column\(s\) patients"):
        read_registrations(bad)
    bad.write_text("practice_code,lsoa_code,patients\nA1,E01000001,2.5\n")
    with pytest.raises(DataError, match=r"1 row\(s\) with a patient count that is not a whole number"):
        read_registrations(bad)
    with pytest.raises(DataError, match="do not exist"):
        read_registrations(tmp_path / "none.csv")


def test_nhs_files_convert_to_the_compact_form(tmp_path):
    compact = registrations_from_nhs(DATA / "gp-reg-pat-prac-lsoa-all_slice.csv")
    raw = pd.read_csv(DATA / "gp-reg-pat-prac-lsoa-all_slice.csv")
    assert list(compact.columns) == ["practice_code", "lsoa_code", "patients"]
    assert compact["patients"].sum() == raw["NUMBER_OF_PATIENTS"].sum() and len(compact) == len(raw)
    path = write_registrations(compact, tmp_path / "r.csv.gz")
    assert gzip.decompress(path.read_bytes()).startswith(b"practice_code,lsoa_code,patients\n")
    assert read_registrations(path)["patients"].sum() == compact["patients"].sum()
    # The published layout: a SEX column (ALL rows kept) in the ZIP of the male/female release.
    text = (
        "PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,SEX,NUMBER_OF_PATIENTS\n"
        "GP_PRAC_PAT_LIST,01Jan2024,A1,X,E01000001,ALL,10\n"
        "GP_PRAC_PAT_LIST,01Jan2024,A1,X,E01000001,MALE,4\n"
        "GP_PRAC_PAT_LIST,01Jan2024,A1,X,E01000002,ALL,5\n"
    )
    with zipfile.ZipFile(tmp_path / "lsoa.zip", "w") as archive:
        archive.writestr("gp-reg-pat-prac-lsoa-male.csv", text.replace(",ALL,", ",MALE,"))
        archive.writestr("gp-reg-pat-prac-lsoa-all.csv", text)
    zipped = registrations_from_nhs(tmp_path / "lsoa.zip")
    assert zipped.to_numpy().tolist() == [["A1", "E01000001", 10], ["A1", "E01000002", 5]]
    assert zipped.attrs["extract_date"] == "01Jan2024"
    (tmp_path / "odd.csv").write_text("A,B\n1,2\n")
    with pytest.raises(DataError, match="has no practice_code column"):
        registrations_from_nhs(tmp_path / "odd.csv")
