from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from footprint.cli import main
from footprint.errors import DataError
from footprint.load import PRACTICES_FILE, read_boundaries, validate_practices
from footprint.sources import IMPUTED, SHIPPED, boundaries_from_ons, import_practices, read_postcode_lookup
from tests.conftest import DATA

IMPORT = DATA / "import"
REGS = IMPORT / "gp-reg-pat-prac-all.csv"
MAP = IMPORT / "gp-reg-pat-prac-map.csv"
CODEPOINT = IMPORT / "codepoint_open_practice_postcodes.csv"
ONS = IMPORT / "ccg21_slice.geojson"
RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw"
#: Compared exactly with the shipped file (coordinates within 1 m, apart).
EXACT = ["practice_code", "practice_name", "postcode", "list_size", "ccg_code", "pcn_code"]


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def assert_reproduces(table: pd.DataFrame, shipped: pd.DataFrame, *, ignore: tuple[str, ...] = ()) -> None:
    """The import equals the shipped rows: exact columns, coordinates within 1 m, imputed rows flagged."""
    assert list(table.columns) == list(shipped.columns)
    pd.testing.assert_frame_equal(table[EXACT], shipped[EXACT])
    located = shipped["easting"] != ""
    assert (table.loc[~located, "coord_source"] == IMPUTED).all()
    for column in ("easting", "northing"):
        gap = (table.loc[located, column].astype(float) - shipped.loc[located, column].astype(float)).abs()
        assert gap.max() <= 1.0
    for column in ("lat", "lon"):  # 1 m is about 1e-5 degrees
        gap = (table.loc[located, column].astype(float) - shipped.loc[located, column].astype(float)).abs()
        assert gap.max() <= 1e-5
    same = [
        c for c in shipped.columns if c not in ("lat", "lon", "easting", "northing", "coord_source", *ignore)
    ]
    pd.testing.assert_frame_equal(table.loc[located, same], shipped.loc[located, same])


def test_slice_reproduces_shipped_rows():
    table, boundaries, report = import_practices(REGS, MAP, postcodes=CODEPOINT, fallback=None)
    assert_reproduces(table, read(DATA / "practices_slice.csv"))
    assert boundaries is None
    assert report.practices == 62 and report.extract_date == "2022-01-01" and report.layout == "2022 (CCG)"
    assert dict(report.located) == {"OS Code-Point Open 2025.4": 61, IMPUTED: 1}
    assert report.imputed == ("N81119",) and report.closed == ()
    assert report.totals == {"01F": 135_183, "99F": 186_104, "99G": 190_375}
    assert sum(report.totals.values()) == report.patients
    # every command reads the result as it is, without imputing again
    checked = validate_practices(table)
    assert len(checked) == 62 and not checked["imputed"].any()


@pytest.mark.skipif(not RAW.is_dir(), reason=f"the raw 2022-01 files are not at {RAW}")
def test_all_england_reproduces_shipped_file():
    table, boundaries, report = import_practices(
        RAW / "nhs_gp_reg_pat_prac_all_2022-01" / "gp-reg-pat-prac-all.csv",
        RAW / "nhs_gp_reg_pat_prac_map_2022-01" / "gp-reg-pat-prac-map.csv",
        postcodes=RAW / "os_codepoint_open_extract" / "codepoint_open_practice_postcodes.csv",
        ons_boundaries=RAW / "ons_ccg_boundaries" / "ccg21.geojson",
        fallback=None,
    )
    assert_reproduces(table, read(PRACTICES_FILE))
    assert dict(report.located) == {
        "OS Code-Point Open 2025.4": 6508,
        "OS Code-Point Open 2018.3": 17,
        IMPUTED: 2,
    }
    assert report.imputed == ("N81119", "N83018")
    assert boundaries is not None and len(boundaries) == 106
    assert report.boundaries_without_practices == () and report.areas_without_boundary == ()


def test_fallback_takes_the_shipped_point_of_the_same_code_and_postcode(tmp_path):
    mapping = read(MAP)
    moved = mapping["PRACTICE_CODE"] == "F81001"
    mapping.loc[moved, "PRACTICE_POSTCODE"] = "SS7 1ZZ"  # moved: the shipped point no longer applies
    regs = read(REGS)
    regs.loc[regs["CODE"] == "F81001", "POSTCODE"] = "SS7 1ZZ"
    table, _, report = import_practices(write(regs, tmp_path / "a.csv"), write(mapping, tmp_path / "m.csv"))
    assert dict(report.located) == {f"{SHIPPED} (OS Code-Point Open 2025.4)": 60, IMPUTED: 2}
    assert set(report.imputed) == {"F81001", "N81119"}
    shipped = read(DATA / "practices_slice.csv").set_index("practice_code")
    row = table.set_index("practice_code").loc["F81003"]
    assert (row["easting"], row["northing"]) == (
        shipped.at["F81003", "easting"],
        shipped.at["F81003", "northing"],
    )


def test_2025_layout_imports_sub_icb_locations_as_ccgs():
    folder = IMPORT / "2025-10"
    table, _, report = import_practices(
        folder / "gp-reg-pat-prac-all.csv", folder / "gp-reg-pat-prac-map.csv", postcodes=CODEPOINT
    )
    assert report.layout == "since July 2022 (sub-ICB location)" and report.extract_date == "2025-10-01"
    assert report.closed == ("N81999",) and "N81999" not in set(table["practice_code"])
    assert report.totals == {"01F": 14_421, "99F": 20_814, "99G": 6_230}
    assert {"icb_code", "icb_ons_code", "icb_name", "supplier_name"} <= set(table.columns)
    assert "stp_code" not in table.columns
    row = table.set_index("practice_code").loc["F81051"]
    assert (row["ccg_code"], row["ccg_name"], row["icb_code"]) == (
        "99F",
        "NHS Mid and South Essex ICB - 99F",
        "QH8",
    )
    assert row["data_date"] == "2025-10-01" and row["list_size"] == "7712"
    # N81119's postcode is in neither vintage; its shipped row has no point either
    assert report.imputed == ("N81119",)
    assert any("left out with 0 patients: 1: N81999" in line for line in report.lines())


def codepoint_product(folder: Path) -> Path:
    """Lay the extract's 2025 rows out as Code-Point Open is published (headerless CSVs, Doc files)."""
    rows = read(CODEPOINT)
    rows = rows[rows["codepoint_version"] == "2025.4.0"].drop(columns="codepoint_version")
    (folder / "Data" / "CSV").mkdir(parents=True)
    (folder / "Doc").mkdir()
    for area, part in rows.groupby(rows["Postcode"].str.extract(r"^([A-Z]+)")[0]):
        part.to_csv(folder / "Data" / "CSV" / f"{area.lower()}.csv", index=False, header=False)
    (folder / "Doc" / "Code-Point_Open_Column_Headers.csv").write_bytes(
        (IMPORT / "Code-Point_Open_Column_Headers.csv").read_bytes()
    )
    (folder / "Doc" / "metadata.txt").write_text(
        "PRODUCT: OS CODE-POINT_03.02\nDATASET VERSION NUMBER: 2025.4.0\n"
    )
    return folder


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_codepoint_open_as_published(tmp_path, as_zip):
    folder = codepoint_product(tmp_path / "codepo_gb")
    path = folder
    if as_zip:
        path = tmp_path / "codepo_gb.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for file in folder.rglob("*.*"):
                archive.write(file, file.relative_to(folder))
    table, _, report = import_practices(REGS, MAP, postcodes=path, fallback=None)
    assert dict(report.located) == {"OS Code-Point Open 2025.4": 61, IMPUTED: 1}
    assert_reproduces(table, read(DATA / "practices_slice.csv"))


def test_newest_vintage_wins_whatever_the_order(tmp_path):
    path = tmp_path / "lookup.csv"
    path.write_text(
        "postcode,eastings,northings,codepoint_version\n"
        "SS8 9SU,578466,183327,2025.4.0\nSS89SU,500000,100000,2018.3.0\n"
        "ss0 7af,500000,100000,2018.3.0\nSS0  7AF,587446,186359,2025.4.0\n"
    )
    lookup = read_postcode_lookup(path, postcodes=pd.Series(["SS8 9SU", "SS0 7AF", "XX1 1XX"]))
    assert lookup.loc["SS89SU", "easting"] == 578466 and lookup.loc["SS07AF", "northing"] == 186359
    assert set(lookup.index) == {"SS89SU", "SS07AF"}
    assert (lookup["source"] == "OS Code-Point Open 2025.4").all()


def test_ons_postcode_directory(tmp_path):
    slice_ = read(DATA / "practices_slice.csv")
    onspd = pd.DataFrame(
        {
            "pcd": slice_["postcode"].str.replace(" ", ""),
            "pcds": slice_["postcode"],
            "doterm": "",
            "oseast1m": slice_["easting"],
            "osnrth1m": slice_["northing"],
            "osgrdind": "1",
            "lat": slice_["lat"],
            "long": slice_["lon"],
        }
    )
    path = write(onspd, tmp_path / "ONSPD_NOV_2025_UK.csv")
    table, _, report = import_practices(REGS, MAP, postcodes=path, fallback=None)
    assert dict(report.located) == {"ONS Postcode Directory": 61, IMPUTED: 1}
    assert_reproduces(table, slice_, ignore=("codepoint_pq",))
    assert (table["codepoint_pq"] == "").all()


def test_ons_boundaries_keyed_by_nhs_code(tmp_path):
    _, boundaries, report = import_practices(REGS, MAP, postcodes=CODEPOINT, ons_boundaries=ONS)
    assert boundaries is not None
    assert list(boundaries["ccg_code"]) == ["01F", "99F", "99G"]
    assert report.boundaries_without_practices == () and report.areas_without_boundary == ()
    path = tmp_path / "b.geojson"
    path.write_text(boundaries.to_json(drop_id=True))
    assert list(read_boundaries(path).index) == ["01F", "99F", "99G"]


def test_ons_boundaries_report_codes_on_one_side_only(tmp_path):
    frame = gpd.read_file(ONS)
    frame.loc[frame["CCG21CD"] == "E38000068", "CCG21CD"] = "E38999999"
    path = tmp_path / "sicbl.gpkg"
    frame.rename(columns={"CCG21CD": "SICBL22CD", "CCG21NM": "SICBL22NM"}).to_file(path)
    areas = read(DATA / "practices_slice.csv")
    boundaries, unmatched, missing = boundaries_from_ons(path, areas)
    assert unmatched == ("E38999999",) and missing == ("01F",)
    assert list(boundaries["ccg_code"]) == ["99F", "99G"]


def edited(tmp_path: Path, source: Path, edit) -> Path:
    frame = read(source)
    frame = edit(frame) if edit(frame) is not None else frame
    return write(frame, tmp_path / source.name)


def drop_map_column(frame):
    return frame.drop(columns="PCN_NAME")


def set_cell(column, code, value, code_column="CODE"):
    def edit(frame):
        frame = frame.copy()
        frame.loc[frame[code_column] == code, column] = value
        return frame

    return edit


ERRORS = [
    ("swapped", None, None, "map file .* looks like the registrations \\(it has NUMBER_OF_PATIENTS\\)"),
    ("map", drop_map_column, None, "map file .* lacks column\\(s\\) PCN_NAME; columns found: PUBLICATION"),
    (
        "map",
        lambda f: f.rename(columns={"CCG_CODE": "AREA"}),
        None,
        "unknown layout: columns found .*AREA.*; expected .*CCG_CODE.* or .*SUB_ICB_LOCATION_CODE",
    ),
    (
        "regs",
        set_cell("EXTRACT_DATE", "F81001", "01Dec2021"),
        None,
        r"registrations .* mixes 2 extract dates \(01Jan2022: 61 rows, e.g. N81011; "
        r"01Dec2021: 1 rows, e.g. F81001",
    ),
    (
        "regs",
        lambda f: f.assign(EXTRACT_DATE="01Feb2022"),
        None,
        "extracted on 2022-02-01 but the map file .* on 2022-01-01: give both files of the same month",
    ),
    ("regs", set_cell("NUMBER_OF_PATIENTS", "F81001", "abc"), None, "not whole numbers .*: F81001 'abc'"),
    ("regs", set_cell("NUMBER_OF_PATIENTS", "F81003", "-4"), None, "F81003 '-4'"),
    (
        "regs",
        lambda f: f[f["CODE"] != "F81001"],
        None,
        "1 practice\\(s\\) are in the map file .* but not in the registrations .*: F81001",
    ),
    (
        "regs",
        lambda f: pd.concat([f, f[f["CODE"] == "F81001"]]),
        None,
        "repeats 1 practice code\\(s\\): F81001",
    ),
    ("regs", set_cell("CCG_CODE", "F81001", "99G"), None, "different area code .*: F81001 \\(99F vs 99G\\)"),
    ("regs", lambda f: f.assign(AGE="0"), None, "counts patients by age .*gp-reg-pat-prac-all.csv"),
]


@pytest.mark.parametrize(("which", "edit", "_", "match"), ERRORS)
def test_bad_nhs_files(tmp_path, which, edit, _, match):
    regs, mapping = REGS, MAP
    if which == "swapped":
        regs, mapping = MAP, REGS
    elif which == "map":
        mapping = edited(tmp_path, MAP, edit)
    else:
        regs = edited(tmp_path, REGS, edit)
    with pytest.raises(DataError, match=match) as info:
        import_practices(regs, mapping, postcodes=CODEPOINT)
    assert "\n" not in str(info.value)


def test_2025_registrations_with_2022_map_is_an_error():
    with pytest.raises(DataError, match=r"has layout since July 2022 .* but the map file 2022 \(CCG\)"):
        import_practices(IMPORT / "2025-10" / "gp-reg-pat-prac-all.csv", MAP)


def test_bad_postcode_lookup(tmp_path):
    path = tmp_path / "lookup.csv"
    path.write_text("postcode,x,y\nSS8 9SU,1,2\n")
    with pytest.raises(
        DataError, match=r"postcode lookup .* has no easting or northing column \(columns found"
    ):
        import_practices(REGS, MAP, postcodes=path)
    with pytest.raises(DataError, match=r"postcode lookup .*nowhere does not exist"):
        import_practices(REGS, MAP, postcodes=tmp_path / "nowhere")


def test_bad_ons_boundaries(tmp_path):
    path = tmp_path / "b.gpkg"
    gpd.read_file(ONS).rename(columns={"CCG21CD": "CODE"}).to_file(path)
    with pytest.raises(DataError, match="no SICBLyyCD or CCGyyCD column \\(found: CODE, CCG21NM\\)"):
        import_practices(REGS, MAP, ons_boundaries=path)


def test_zero_patients_left_out_and_listed(tmp_path):
    regs = edited(tmp_path, REGS, set_cell("NUMBER_OF_PATIENTS", "F81001", "0"))
    table, _, report = import_practices(regs, MAP, postcodes=CODEPOINT, fallback=None)
    assert report.closed == ("F81001",) and len(table) == 61
    assert "F81001" not in set(table["practice_code"])


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_then_graph(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "import"
    code, text, _ = run(
        capsys, "import", "--registrations", REGS, "--map", MAP, "--postcodes", CODEPOINT,
        "--ons-boundaries", ONS, "--no-fallback", "--out", out,
    )  # fmt: skip
    assert code == 0
    assert "62 practices, 511,662 patients in 3 areas" in text
    assert "located: OS Code-Point Open 2025.4 61; imputed from postcode neighbours 1" in text
    assert f"--practices {out / 'practices.csv'} --boundaries {out / 'boundaries.geojson'}" in text
    written = read(out / "practices.csv")
    assert len(written) == 62 and np.isin(["lat", "lon", "ccg_code"], written.columns).all()
    code, text, _ = run(
        capsys, "graph", "--practices", out / "practices.csv", "--boundaries", out / "boundaries.geojson",
        "--out", tmp_path / "graph",
    )  # fmt: skip
    assert code == 0 and "3 CCGs, 62 practices" in text


def test_cli_bad_input_is_one_line_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "import", "--registrations", MAP, "--map", REGS, "--out", tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("footprint: error: map file")
    assert not (tmp_path / "practices.csv").exists()


def test_cli_needs_both_files(capsys):
    code, _, err = run(capsys, "import", "--map", MAP)
    assert code == 2 and "--registrations" in err
