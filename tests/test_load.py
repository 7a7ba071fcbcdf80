from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footprint.errors import DataError
from footprint.load import read_boundaries, read_practices, select_ccgs
from footprint.lsoas import read_lsoas
from footprint.ons_boundaries import boundaries_from_ons
from tests.conftest import DATA, grid_rows, write_practices

GOOD = grid_rows([[10_000, 12_000], [9_000, 11_000]])


def write(tmp_path: Path, rows: list[dict] | None = None, **changes: dict) -> Path:
    """Write the good 2 x 2 grid with some cells changed: changes[code] = {column: value}."""
    frame = pd.DataFrame(rows or GOOD).astype(object)
    for code, values in changes.items():
        for column, value in values.items():
            frame.loc[frame["practice_code"] == code, column] = value
    return write_practices(tmp_path / "practices.csv", frame.to_dict("records"))


def test_shipped_file_loads_every_practice():
    practices = read_practices()
    assert len(practices) == 6527
    assert practices.index.is_unique
    assert practices.crs.to_epsg() == 27700
    assert practices["ccg_code"].nunique() == 106
    assert sorted(practices.index[practices["imputed"]]) == ["N81119", "N83018"]
    assert (practices["list_size"] > 0).all()
    assert practices.geometry.notna().all()


def test_user_file_with_easting_northing(tmp_path):
    practices = read_practices(write(tmp_path))
    assert list(practices.index) == ["A1", "A2", "B1", "B2"]
    assert practices.loc["A2", "list_size"] == 12_000
    assert not practices["rural"].any()
    assert not practices["imputed"].any()


def test_lat_lon_file_matches_easting_northing():
    shipped = read_practices(DATA / "practices_slice.csv", impute="postcode")
    frame = pd.read_csv(DATA / "practices_slice.csv", dtype=str).drop(columns=["easting", "northing"])
    frame = frame[frame["lat"].notna()]
    path = DATA.parent / "_tmp_latlon.csv"
    try:
        frame.to_csv(path, index=False)
        from_latlon = read_practices(path)
    finally:
        path.unlink()
    common = from_latlon.index
    gap = from_latlon.geometry.distance(shipped.loc[common].geometry)
    assert gap.max() < 2.0  # metres: lat/lon are given to 6 decimals


def test_bom_and_windows_line_endings_load(tmp_path):
    path = write(tmp_path)
    text = path.read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    practices = read_practices(path)
    assert list(practices.columns[:2]) == ["practice_name", "list_size"]
    assert list(practices.index) == ["A1", "A2", "B1", "B2"]


def test_extra_columns_and_rural_flags_kept(tmp_path):
    rows = [dict(r, rural="yes" if r["practice_code"] == "A1" else "", note="x") for r in GOOD]
    practices = read_practices(write(tmp_path, rows))
    assert practices["rural"].to_dict() == {"A1": True, "A2": False, "B1": False, "B2": False}
    assert (practices["note"] == "x").all()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"A2": {"practice_code": "A1"}},
            r"1 practice\(s\) appear more than once: A1 \(line 2\), A1 \(line 3\)",
        ),
        ({"B1": {"list_size": ""}}, r"have no list_size: B1 \(line 4\)"),
        ({"B1": {"list_size": "lots"}}, r"list_size that is not a number: B1 \(line 4: 'lots'\)"),
        ({"B2": {"list_size": -5}}, r"list_size of zero or less: B2 \(line 5: '-5'\)"),
        ({"B2": {"list_size": 0}}, r"list_size of zero or less: B2 \(line 5: '0'\).*positive whole"),
        ({"A1": {"list_size": 10.5}}, r"fractional list_size: A1 \(line 2: '10.5'\)"),
        (
            {"A1": {"list_size": "99999999999999999999"}},
            r"list_size over 1,000,000 .*: A1 \(line 2: '99999999999999999999'\); correct the figure",
        ),
        ({"A2": {"ccg_code": ""}}, r"blank ccg_code: A2 \(line 3\)"),
        ({"A2": {"practice_code": ""}}, r"blank practice_code: \(blank code\) \(line 3\)"),
        ({"A1": {"easting": "", "northing": ""}}, r"have no coordinates: A1 \(line 2\).*impute='postcode'"),
        ({"A1": {"easting": "abc"}}, r"easting that is not a number: A1 \(line 2: 'abc'\)"),
        ({"B1": {"easting": 50_000}}, r"more than 5 km outside England: B1 \(line 4: \d+\.\d km outside\)"),
        ({"A1": {"rural": "maybe"}}, r"rural value that is not true/false: A1 \(line 2: 'maybe'\)"),
    ],
)
def test_bad_rows_are_named(tmp_path, changes, match):
    with pytest.raises(DataError, match=match):
        read_practices(write(tmp_path, **changes))


def test_swapped_lat_lon_named(tmp_path):
    path = tmp_path / "ll.csv"
    path.write_text(
        "practice_code,list_size,ccg_code,lat,lon\nX1,5000,70F,51.5,-0.1\nX2,6000,70F,-0.2,51.4\n"
    )
    with pytest.raises(DataError, match=r"latitude and longitude swapped: X2 \(line 3: lat -0.2, lon 51.4\)"):
        read_practices(path)


def test_missing_columns_listed_with_columns_found(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("code,size,ccg_code,lat\nX1,5000,70F,51.5\n")
    with pytest.raises(
        DataError,
        match=r"lacks required column\(s\) practice_code, list_size, lat and lon .*"
        r"columns found: code, size, ccg_code, lat",
    ):
        read_practices(path)


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_practices(empty)
    header = tmp_path / "header.csv"
    header.write_text("practice_code,list_size,ccg_code,lat,lon\n")
    with pytest.raises(DataError, match="has a header but no practices"):
        read_practices(header)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_practices(tmp_path / "nope.csv")


def test_impute_places_practice_among_postcode_neighbours(tmp_path):
    rows = [dict(r, postcode=f"LE1 {i}AB") for i, r in enumerate(GOOD)]
    rows[0].update(easting="", northing="", postcode="LE1 3ZZ")
    practices = read_practices(write(tmp_path, rows), impute="postcode")
    assert practices.loc["A1", "imputed"]
    # sector "LE1 3" holds only B2, so A1 is placed on B2's site
    assert practices.loc["A1"].geometry.equals(practices.loc["B2"].geometry)


def test_shipped_outliers_within_5km_are_accepted():
    practices = read_practices()
    from footprint.load import read_outline

    outside = ~practices.geometry.within(read_outline())
    assert 0 < outside.sum() <= 10
    assert practices.geometry[outside].distance(read_outline()).max() < 5_000


def test_boundaries_need_ccg_code(tmp_path):
    import geopandas as gpd
    import shapely

    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700").to_file(path)
    with pytest.raises(DataError, match=r"no ccg_code column \(found: name\)"):
        read_boundaries(path)


def test_shipped_boundaries():
    boundaries = read_boundaries()
    assert len(boundaries) == 106
    assert boundaries.crs.to_epsg() == 27700
    assert np.isin(read_practices()["ccg_code"].unique(), boundaries.index).all()


def test_select_ccgs_names_unknown(slice_practices):
    assert set(select_ccgs(slice_practices, ["99f"])["ccg_code"]) == {"99F"}
    with pytest.raises(DataError, match="no practice has CCG code"):
        select_ccgs(slice_practices, ["ZZZ"])


def test_the_docs_example_practices_file_loads(tmp_path):
    page = (DATA.parent.parent / "docs" / "conventions.md").read_text()
    example = "practice_code," + page.split("```text\npractice_code,", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.csv"
    path.write_text(example)
    practices = read_practices(path)
    assert list(practices.index) == ["F81051", "F81101"]
    assert practices["rural"].tolist() == [False, False]


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "practice_code,list_size,ccg_code,lat,lon\nX1,5000,70F,51.5,-0.1\nCAFÉ,1,70F,51,0\n".encode("latin-1")
    )
    with pytest.raises(DataError, match=r"is not UTF-8 text .*save it as UTF-8 CSV"):
        read_practices(path)


def test_boundaries_repeating_a_code(tmp_path):
    import geopandas as gpd
    import shapely

    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame(
        {"ccg_code": ["70F", "70f"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs="EPSG:27700",
    ).to_file(path)
    with pytest.raises(DataError, match=r"repeats CCG code.* 70F: dissolve"):
        read_boundaries(path)


def test_allow_cross_file(tmp_path):
    from footprint.load import read_allow_cross

    path = tmp_path / "cross.csv"
    path.write_text("practice_code,ccg_code\nf81051, 99g\n")
    assert read_allow_cross(path) == {"F81051": "99G"}
    path.write_text("practice_code\nF81051\n")
    with pytest.raises(DataError, match=r"needs columns practice_code and ccg_code \(found: practice_code\)"):
        read_allow_cross(path)
    path.write_text("practice_code,ccg_code\nF81051,99G\nF81051,99E\n")
    with pytest.raises(DataError, match=r"repeats practice.* F81051"):
        read_allow_cross(path)
    with pytest.raises(DataError, match="does not exist"):
        read_allow_cross(tmp_path / "none.csv")


@pytest.mark.parametrize(
    ("read", "missing", "unreadable"),
    [
        (
            read_boundaries,
            r"boundaries file .*none\.geojson does not exist: give a GeoJSON/GeoPackage",
            r"boundaries file .*bad\.geojson cannot be read as a vector file \(.*\); give GeoJSON",
        ),
        (
            lambda path: read_lsoas(path),
            r"LSOA boundaries .*none\.geojson do not exist: give the path",
            r"LSOA boundaries .*bad\.geojson could not be read \(.*\): give GeoJSON",
        ),
        (
            lambda path: boundaries_from_ons(
                path, pd.DataFrame(columns=["ccg_ons_code", "ccg_code", "ccg_name"])
            ),
            r"ONS boundaries .*none\.geojson do not exist: give the GeoJSON",
            r"ONS boundaries .*bad\.geojson cannot be read as a vector file \(.*\); give GeoJSON",
        ),
    ],
    ids=["ccg", "lsoa", "ons"],
)
def test_a_missing_or_unreadable_polygon_file_stops_in_one_line(tmp_path, read, missing, unreadable):
    """Every reader of polygons (read_vector underneath) names the file and what to give."""
    with pytest.raises(DataError, match=missing):
        read(tmp_path / "none.geojson")
    (tmp_path / "bad.geojson").write_text("not a vector file\n")
    with pytest.raises(DataError, match=unreadable) as raised:
        read(tmp_path / "bad.geojson")
    assert "\n" not in str(raised.value).strip()


def test_boundaries_read_through_the_cache_until_the_file_changes(tmp_path):
    import os

    import geopandas as gpd
    import shapely

    path, cache = tmp_path / "b.gpkg", tmp_path / "cache"
    frame = gpd.GeoDataFrame({"ccg_code": ["70F"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700")
    frame.to_file(path)
    first = read_boundaries(path, use_cache=True, cache_dir=cache)
    assert len(list(cache.glob("boundaries-*.pickle"))) == 1
    assert read_boundaries(path, use_cache=True, cache_dir=cache).equals(first)
    assert read_boundaries(path).equals(first)
    # A file written again (other polygons, a later time) is read again, not taken from the cache.
    frame.assign(geometry=[shapely.box(0, 0, 2, 2)]).to_file(path)
    later = os.stat(path).st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    again = read_boundaries(path, use_cache=True, cache_dir=cache)
    assert again.geometry.iloc[0].area == 4.0
    with pytest.raises(DataError, match="does not exist"):
        read_boundaries(tmp_path / "gone.gpkg", use_cache=True, cache_dir=cache)
