from __future__ import annotations

import gzip
import json
import tomllib
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from footprint.cli import main
from footprint.errors import DataError
from footprint.load import PRACTICES_FILE, read_boundaries, validate_practices
from footprint.sources import (
    IMPUTED,
    POSTCODES_FILE,
    SHIPPED,
    boundaries_from_ons,
    import_practices,
    read_postcode_lookup,
)
from tests.conftest import DATA

IMPORT = DATA / "import"
REGS = IMPORT / "gp-reg-pat-prac-all.csv"
MAP = IMPORT / "gp-reg-pat-prac-map.csv"
CODEPOINT = IMPORT / "codepoint_open_practice_postcodes.csv"
ONS = IMPORT / "ccg21_slice.geojson"
APART = IMPORT / "months_apart"
APRIL = APART / "gp-reg-pat-prac-all.csv"
OCTOBER = APART / "gp-reg-pat-prac-map.csv"
SUB_ICBS = APART / "sub-icbs.geojson"
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


@pytest.mark.skipif(
    not (RAW / "nhs_gp_reg_pat_prac_all_2025-04").is_dir(), reason=f"the raw 2025 files are not at {RAW}"
)
def test_real_2025_list_sizes_with_the_october_map_and_2023_sub_icbs():
    table, boundaries, report = import_practices(
        RAW / "nhs_gp_reg_pat_prac_all_2025-04" / "gp-reg-pat-prac-all.zip",
        RAW / "nhs_gp_reg_pat_prac_map_2025-10" / "gp-reg-pat-prac-map.csv",
        ons_boundaries=RAW.parent / "boundaries" / "sub_icb_2023" / "sub-icbs.geojson",
        months_apart="allow",
    )
    assert (report.practices, report.months_apart, len(report.registrations_only)) == (6202, 6, 37)
    assert (table["pcn_code"].nunique(), len(report.totals)) == (1298, 106)
    assert dict(report.located) == {
        "OS Code-Point Open 2025.4": 6197,
        f"{SHIPPED} (OS Code-Point Open 2018.3)": 3,
        IMPUTED: 2,
    }
    assert dict(report.imputed_km) == {"N81119": 0.3, "N83018": 3.6}
    assert boundaries is not None and len(boundaries) == 106
    assert report.boundaries_without_practices == () and report.areas_without_boundary == ()
    # a service registered in Bassetlaw with an Enfield postcode stays at its postcode
    row = table.set_index("practice_code").loc["Y08082"]
    assert (row["ccg_code"], row["postcode"], row["easting"], row["northing"]) == (
        "02Q",
        "EN1 3LL",
        "533116",
        "197723",
    )
    assert len(validate_practices(table)) == 6202


def test_fallback_takes_the_shipped_point_of_the_same_code_and_postcode(tmp_path):
    mapping = read(MAP)
    moved = mapping["PRACTICE_CODE"] == "F81001"
    mapping.loc[moved, "PRACTICE_POSTCODE"] = "SS7 1ZZ"  # moved: the shipped point no longer applies
    regs = read(REGS)
    regs.loc[regs["CODE"] == "F81001", "POSTCODE"] = "SS7 1ZZ"
    table, _, report = import_practices(
        write(regs, tmp_path / "a.csv"), write(mapping, tmp_path / "m.csv"), postcodes=None
    )
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
        r"extracted on 2022-02-01 but the map file .* on 2022-01-01, 1 month \(31 days\) apart: give both "
        r"files of the same month, or pass months_apart='allow' to join them anyway \(areas and PCNs from",
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
    gpd.read_file(ONS).assign(CCG21CD=["1", "2", "3"]).rename(columns={"CCG21CD": "CODE"}).to_file(path)
    with pytest.raises(
        DataError,
        match=r"no SICBLyyCD or CCGyyCD column, nor a field holding E38 codes.* \(found: CODE, CCG21NM\); "
        r"give ONS sub-ICB or CCG boundaries, or name the field holding the code with code_field",
    ):
        import_practices(REGS, MAP, ons_boundaries=path)


def test_zero_patients_left_out_and_listed(tmp_path):
    regs = edited(tmp_path, REGS, set_cell("NUMBER_OF_PATIENTS", "F81001", "0"))
    table, _, report = import_practices(regs, MAP, postcodes=CODEPOINT, fallback=None)
    assert report.closed == ("F81001",) and len(table) == 61
    assert "F81001" not in set(table["practice_code"])


# --- files as a user holds them: months apart, republished boundaries, the shipped lookup ------


#: The real slices' practices (sub-ICBs 03K and 99C): in April's list sizes but not October's map.
GONE_BY_OCTOBER = {"A87006": 5802, "A87019": 4943, "A87600": 4823, "B81065": 11090}


def test_files_months_apart_refused_without_the_option():
    with pytest.raises(
        DataError,
        match=r"registrations .*gp-reg-pat-prac-all.csv are extracted on 2025-04-01 but the map file .* on "
        r"2025-10-01, 6 months \(183 days\) apart: give both files of the same month, or pass "
        r"months_apart='allow' to join them anyway",
    ):
        import_practices(APRIL, OCTOBER, fallback=None)


def test_files_months_apart_joined_when_allowed():
    table, _, report = import_practices(APRIL, OCTOBER, fallback=None, months_apart="allow")
    assert (report.extract_date, report.list_size_date) == ("2025-10-01", "2025-04-01")
    assert (report.months_apart, report.days_apart) == (6, 183)
    assert dict(report.registrations_only) == GONE_BY_OCTOBER and report.map_only == ()
    assert report.same_postcode == {} and report.areas_differ == {}
    codes = set(table["practice_code"])
    assert len(table) == 38 == report.practices and not codes & set(GONE_BY_OCTOBER)
    row = table.set_index("practice_code").loc["A86005"]  # October's name and PCN, April's patients
    assert (row["practice_name"], row["pcn_code"], row["list_size"]) == (
        "WEST FARM SURGERY",
        "U95193",
        "6048",
    )
    assert (row["data_date"], row["list_size_date"]) == ("2025-10-01", "2025-04-01")
    lines = report.lines()
    assert lines[1] == (
        "months apart: list sizes of 2025-04-01 are 6 months (183 days) older than the map file of "
        "2025-10-01; areas and PCNs are the map file's, patients the list sizes'"
    )
    assert lines[2] == (
        "in the registrations only, left out (not in the map file of 2025-10-01: closed or merged): "
        "4 practices, 26,658 patients: A87006, A87019, A87600, B81065"
    )
    # what every command then reads
    assert len(validate_practices(table)) == 38


def test_files_months_apart_keep_the_map_file_area_and_list_map_only_practices(tmp_path):
    regs = read(APRIL)
    regs = regs[regs["CODE"] != "Y02787"]  # opened after April: no list size
    regs.loc[regs["CODE"] == "A86005", "SUB_ICB_LOCATION_CODE"] = "03K"
    regs.loc[regs["CODE"] == "A87006", "POSTCODE"] = "NE12 8LS"  # A86005's: merged into it?
    table, _, report = import_practices(
        write(regs, tmp_path / "gp-reg-pat-prac-all.csv"), OCTOBER, fallback=None, months_apart="allow"
    )
    assert report.map_only == ("Y02787",) and "Y02787" not in set(table["practice_code"])
    assert dict(report.areas_differ) == {"A86005": "03K"}
    assert dict(report.same_postcode) == {"A87006": ("A86005",)}
    assert table.set_index("practice_code").at["A86005", "ccg_code"] == "99C"
    text = "\n".join(report.lines())
    assert "in the map file only, left out (no list size of 2025-04-01): 1 practice: Y02787" in text
    assert "area differs between the files (map file's kept): 1: A86005 (03K in the registrations)" in text
    assert (
        "of those, at the postcode of a practice in the map file (merged into it? its list size lacks "
        "their patients): 1: A87006 (A86005)" in text
    )


def test_files_months_apart_may_mix_layouts_and_have_newer_list_sizes():
    regs = IMPORT / "2025-10" / "gp-reg-pat-prac-all.csv"  # sub-ICB layout, October 2025
    table, _, report = import_practices(regs, MAP, postcodes=CODEPOINT, fallback=None, months_apart="allow")
    assert report.layout == "2022 (CCG)" and (report.months_apart, report.days_apart) == (45, 1369)
    assert (
        "list sizes of 2025-10-01 are 45 months (1369 days) newer than the map file of 2022-01-01"
        in (report.lines()[1])
    )
    assert dict(report.registrations_only) == {"N81999": 0} and len(report.map_only) == 57
    assert len(table) == 5 and set(table["list_size_date"]) == {"2025-10-01"}


def test_files_of_one_month_still_refuse_practices_in_one_file_only(tmp_path):
    regs = read(APRIL).assign(EXTRACT_DATE="01Oct2025")
    with pytest.raises(DataError, match=r"4 practice\(s\) are in the registrations .* A87006, A87019"):
        import_practices(write(regs, tmp_path / "a.csv"), OCTOBER, months_apart="allow")


def test_registrations_read_from_the_zip_as_published(tmp_path):
    path = tmp_path / "gp-reg-pat-prac-all.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(APRIL, "gp-reg-pat-prac-all.csv")
    zipped, _, _ = import_practices(path, OCTOBER, fallback=None, months_apart="allow")
    plain, _, _ = import_practices(APRIL, OCTOBER, fallback=None, months_apart="allow")
    pd.testing.assert_frame_equal(zipped, plain)


def sub_icbs(tmp_path: Path, edit) -> Path:
    path = tmp_path / "sub-icbs.geojson"
    path.write_text(edit(gpd.read_file(SUB_ICBS)).to_json(drop_id=True))
    return path


@pytest.mark.parametrize(
    ("edit", "code_field", "keyed"),
    [
        (lambda f: f, None, "field code (ONS E38 codes, recognised by content)"),
        (
            lambda f: f.drop(columns="code"),
            None,
            "field name (names ending in the NHS code, recognised by content)",
        ),
        (
            lambda f: f.assign(nhs=f["name"].str[-3:]).drop(columns=["code", "name"]),
            None,
            "field nhs (NHS codes, recognised by content)",
        ),
        (
            lambda f: f.assign(code=["x", "y"]),
            "NAME",
            "field name (names ending in the NHS code, as given)",
        ),
        (lambda f: f.rename(columns={"code": "SICBL23CD"}), None, "field SICBL23CD (ONS E38 codes, by name)"),
    ],
    ids=["code-name", "name-only", "nhs-codes", "field-given", "ons-named"],
)
def test_sub_icb_boundaries_recognised_by_content(tmp_path, edit, code_field, keyed):
    _, boundaries, report = import_practices(
        APRIL, OCTOBER, fallback=None, months_apart="allow", ons_boundaries=sub_icbs(tmp_path, edit),
        code_field=code_field,
    )  # fmt: skip
    assert boundaries is not None and report.boundary_codes == keyed
    assert list(boundaries["ccg_code"]) == ["03K", "99C"]
    assert list(boundaries["ccg_ons_code"]) == ["E38000122", "E38000127"]
    assert list(boundaries["ccg_name"]) == [
        "NHS Humber and North Yorkshire ICB - 03K",
        "NHS North East and North Cumbria ICB - 99C",
    ]
    assert report.boundaries_without_practices == () and report.areas_without_boundary == ()
    assert f"boundaries keyed by {keyed}" in report.lines()


@pytest.mark.parametrize(
    ("edit", "code_field", "match"),
    [
        (
            lambda f: f.assign(name=["Humber", "Tyneside"]).drop(columns="code"),
            None,
            r"have no SICBLyyCD or CCGyyCD column, nor a field holding E38 codes, the map file's NHS codes "
            r"or names ending in them \('... - 16C'\) \(found: name\); .* name the field holding the code "
            r"with code_field",
        ),
        (lambda f: f, "sicbl23cd", r"have no field 'sicbl23cd' \(found: code, name\): name one of those"),
        (
            lambda f: f.assign(name=["Humber", "Tyneside"]),
            "name",
            r"field 'name' of ONS boundaries .* holds neither E38 codes, the map file's NHS codes nor names "
            r"ending in them \(e.g. 'Humber'\)",
        ),
    ],
    ids=["no-field", "field-missing", "field-holds-no-code"],
)
def test_sub_icb_boundaries_without_a_code_field(tmp_path, edit, code_field, match):
    areas = pd.DataFrame(
        {"ccg_code": ["03K", "99C"], "ccg_ons_code": ["E38000122", "E38000127"], "ccg_name": ["H", "N"]}
    )
    with pytest.raises(DataError, match=match):
        boundaries_from_ons(sub_icbs(tmp_path, edit), areas, code_field=code_field)


def test_sub_icb_boundaries_report_codes_on_one_side_only(tmp_path):
    path = sub_icbs(tmp_path, lambda f: f.drop(columns="code").assign(name=["NHS X - 03K", "NHS Y - 00Z"]))
    _, boundaries, report = import_practices(
        APRIL, OCTOBER, fallback=None, months_apart="allow", ons_boundaries=path
    )
    assert boundaries is not None and list(boundaries["ccg_code"]) == ["03K"]
    assert report.boundaries_without_practices == ("00Z",) and report.areas_without_boundary == ("99C",)


def test_shipped_postcode_lookup_is_the_default():
    table, _, report = import_practices(REGS, MAP, fallback=None)
    assert dict(report.located) == {"OS Code-Point Open 2025.4": 61, IMPUTED: 1}
    # the same points, to the metre, as the Code-Point extract the shipped file was built from
    assert_reproduces(table, read(DATA / "practices_slice.csv"))


def test_shipped_postcode_lookup_file():
    assert POSTCODES_FILE.stat().st_size <= 15_000_000
    package_data = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = package_data["tool"]["setuptools"]["package-data"]["footprint"]
    assert any(POSTCODES_FILE.match(p) for p in patterns)
    lookup = read_postcode_lookup(
        POSTCODES_FILE, postcodes=pd.Series(["EN1 3LL", "cf10 1ep", "EH1 1YZ", "B1 1AY"])
    )
    # England only: Cardiff's and Edinburgh's postcodes are not in it
    assert list(lookup.index) == ["B11AY", "EN13LL"]
    assert lookup.loc["EN13LL", ["easting", "northing"]].tolist() == [533116.0, 197723.0]
    assert set(lookup["source"]) == {"OS Code-Point Open 2025.4"} and set(lookup["quality"]) == {"10"}


def test_lookup_leaves_out_postcodes_without_coordinates(tmp_path):
    path = tmp_path / "lookup.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"postcode,eastings,northings,positional_quality_indicator,codepoint_version\n"
            b"SS8 9SU,0,0,90,2025.4.0\nSS8 9SU,578160,183824,10,2018.3.0\nSS0 7AF,0,0,90,2025.4.0\n"
        )
    )
    lookup = read_postcode_lookup(path)
    assert list(lookup.index) == ["SS89SU"] and lookup.loc["SS89SU", "easting"] == 578160
    assert lookup.loc["SS89SU", "source"] == "OS Code-Point Open 2018.3"


def test_broken_shipped_lookup(tmp_path, monkeypatch):
    path = tmp_path / "codepoint_open_2025.4_england.csv.gz"
    path.write_bytes(gzip.compress(b"pcd,easting,northing,pq\nB1  1AY,406523,286448,10\nB1 1AZ,1,2,10\n"))
    with pytest.raises(
        DataError, match=r"has rows of uneven width: rebuild it with scripts/build_postcodes.py"
    ):
        read_postcode_lookup(path)
    monkeypatch.setattr("footprint.sources.POSTCODES_FILE", tmp_path / "gone.csv.gz")
    with pytest.raises(DataError, match=r"postcode lookup .*gone.csv.gz does not exist: reinstall footprint"):
        import_practices(REGS, MAP, postcodes=CODEPOINT, fallback=None)  # N81119 is imputed: how far?


def with_postcode(tmp_path: Path, postcode: str) -> Path:
    return edited(tmp_path, OCTOBER, set_cell("PRACTICE_POSTCODE", "A86005", postcode, "PRACTICE_CODE"))


def test_imputed_practice_near_its_district_is_listed_with_the_distance(tmp_path):
    mapping = with_postcode(tmp_path, "NE12 8CV")  # no such postcode; NE12 has three practices
    _, _, report = import_practices(APRIL, mapping, fallback=None, months_apart="allow")
    assert report.imputed == ("A86005",) and 0 < report.imputed_km["A86005"] <= 5
    what = "imputed (check these; km from their postcode district's centre)"
    assert f"{what}: 1: A86005 {report.imputed_km['A86005']:.1f} km" in report.lines()


@pytest.mark.parametrize(
    ("postcode", "named"),
    [
        ("EN1 9CV", r"A86005 \(EN1 9CV, 388\.4 km\)"),
        ("ZZ9 9CV", r"A86005 \(ZZ9 9CV, \(district not in the lookup\)\)"),
    ],
    ids=["far", "unknown-district"],
)
def test_imputed_practice_far_from_its_district_stops_the_import_unless_kept(tmp_path, postcode, named):
    mapping = with_postcode(tmp_path, postcode)
    with pytest.raises(
        DataError,
        match=r"^1 practice\(s\) placed from their postcode neighbours lie more than 5 km from their "
        rf"postcode district's centre, or their district is in no lookup: {named}; correct their postcodes "
        r"in the map file, give a postcode lookup that has them, or pass far_imputed='keep'",
    ):
        import_practices(APRIL, mapping, fallback=None, months_apart="allow")
    table, _, report = import_practices(
        APRIL, mapping, fallback=None, months_apart="allow", far_imputed="keep"
    )
    assert report.imputed == ("A86005",) and not report.imputed_km["A86005"] <= 5
    assert table.set_index("practice_code").at["A86005", "coord_source"] == IMPUTED


def test_bad_policy_options():
    with pytest.raises(ValueError, match="months_apart='yes' is not an option: give 'raise' or 'allow'"):
        import_practices(APRIL, OCTOBER, months_apart="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="far_imputed='allow' is not an option: give 'raise' or 'keep'"):
        import_practices(APRIL, OCTOBER, far_imputed="allow")  # type: ignore[arg-type]


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


def test_cli_files_months_apart(capsys, tmp_path):
    base = ("import", "--registrations", APRIL, "--map", OCTOBER, "--no-fallback")
    code, _, err = run(capsys, *base, "--out", tmp_path / "refused")
    assert code == 2 and "6 months (183 days) apart" in err and "or pass --allow-months-apart to join" in err
    assert not (tmp_path / "refused" / "practices.csv").exists()
    out = tmp_path / "import"
    code, text, _ = run(
        capsys, *base, "--allow-months-apart", "--ons-boundaries", SUB_ICBS, "--out", out
    )  # fmt: skip
    assert code == 0
    assert "list sizes of 2025-04-01 are 6 months (183 days) older than the map file of 2025-10-01" in text
    assert "4 practices, 26,658 patients: A87006, A87019, A87600, B81065" in text
    assert "located: OS Code-Point Open 2025.4 38\n" in text  # the shipped lookup, no --postcodes
    assert "boundaries keyed by field code (ONS E38 codes, recognised by content)" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["data_date"] == "2025-10-01"
    assert summary["provenance"]["list_size_date"] == "2025-04-01"
    assert (summary["provenance"]["months_apart"], summary["provenance"]["days_apart"]) == (6, 183)
    assert summary["provenance"]["postcodes"] == "shipped: codepoint_open_2025.4_england.csv.gz"
    assert summary["report"]["registrations_only"] == GONE_BY_OCTOBER
    assert len(read(out / "practices.csv")) == 38
    assert list(read_boundaries(out / "boundaries.geojson").index) == ["03K", "99C"]


def test_cli_far_imputed_practice(capsys, tmp_path):
    mapping = with_postcode(tmp_path, "EN1 9CV")
    base = ("import", "--registrations", APRIL, "--map", mapping, "--allow-months-apart", "--out", tmp_path)
    code, _, err = run(capsys, *base)
    assert code == 2 and "A86005 (EN1 9CV, 3" in err and "or pass --allow-far-imputed to keep them" in err
    code, text, _ = run(capsys, *base, "--allow-far-imputed")
    assert (
        code == 0 and "imputed (check these; km from their postcode district's centre): 1: A86005 3" in text
    )


def test_cli_boundary_code_field(capsys, tmp_path):
    path = sub_icbs(tmp_path, lambda f: f.assign(name=["Humber", "Tyneside"]))
    base = ("import", "--registrations", APRIL, "--map", OCTOBER, "--allow-months-apart", "--out", tmp_path)
    code, _, err = run(capsys, *base, "--ons-boundaries", path, "--boundary-code-field", "name")
    assert code == 2 and "field 'name' of ONS boundaries" in err
    code, text, _ = run(capsys, *base, "--ons-boundaries", path, "--boundary-code-field", "code")
    assert code == 0 and "boundaries keyed by field code (ONS E38 codes, as given)" in text
