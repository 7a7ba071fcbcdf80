"""Import NHS Digital's practice files, a postcode lookup and ONS boundaries into footprint's schema.

NHS Digital publishes "Patients Registered at a GP Practice" every month: a registrations
file (``gp-reg-pat-prac-all.csv``, patients per practice) and a map file
(``gp-reg-pat-prac-map.csv``, practice to PCN, CCG or sub-ICB location, STP or ICB and
region). :func:`import_practices` joins the two, checks the join, places each practice at
its postcode's centroid and returns a practices table that :func:`footprint.load.read_practices`
reads, with the ONS boundaries of the same areas keyed by the NHS code when given.

Two layouts are known: the 2022 one (``CCG_CODE``, ``ONS_CCG_CODE``, ``STP_CODE`` ...) and
the one used since July 2022 (``SUB_ICB_LOCATION_CODE``, ``ICB_CODE`` ...). Sub-ICB
locations play the part of CCGs (``ccg_code``); ICB codes and names are kept as columns.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from footprint._io import read_text_csv
from footprint.errors import DataError
from footprint.load import CRS, PRACTICES_FILE, validate_practices

__all__ = [
    "ImportReport",
    "boundaries_from_ons",
    "import_practices",
    "read_postcode_lookup",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Columns of the practices table written, in the order of the shipped file.
COLUMNS = (
    "practice_code",
    "practice_name",
    "postcode",
    "lat",
    "lon",
    "list_size",
    "ccg_code",
    "ccg_name",
    "pcn_code",
    "pcn_name",
    "data_date",
    "ccg_ons_code",
    "{nest}_code",
    "{nest}_ons_code",
    "{nest}_name",
    "region_code",
    "region_name",
    "easting",
    "northing",
    "coord_source",
    "codepoint_pq",
)

#: Route label of a practice placed from its postcode neighbours (the ``coord_source`` value).
IMPUTED = "imputed from postcode neighbours"
#: Route label of a practice placed from the shipped file (followed by that file's source).
SHIPPED = "shipped practices file"
#: Code-Point Open's columns, used when its column-header file is not found.
CODEPOINT_COLUMNS = (
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
)
_SHOW = 10


@dataclass(frozen=True)
class _Layout:
    """How one published layout names the columns footprint needs."""

    name: str
    area: str  # the column stem of the CCG-like area, e.g. "ccg" or "sub_icb_location"
    nest: str  # the output stem of the nesting area: "stp" or "icb"
    nest_column: str  # the file's stem of the nesting area: "stp" or "icb"

    def map_columns(self) -> dict[str, str]:
        """Return the map file's column (lower case) for each output column."""
        return {
            "practice_code": "practice_code",
            "practice_name": "practice_name",
            "postcode": "practice_postcode",
            "pcn_code": "pcn_code",
            "pcn_name": "pcn_name",
            "ccg_code": f"{self.area}_code",
            "ccg_name": f"{self.area}_name",
            "ccg_ons_code": f"ons_{self.area}_code",
            f"{self.nest}_code": f"{self.nest_column}_code",
            f"{self.nest}_ons_code": f"ons_{self.nest_column}_code",
            f"{self.nest}_name": f"{self.nest_column}_name",
            "region_code": "comm_region_code",
            "region_name": "comm_region_name",
            "extract_date": "extract_date",
        }

    def registration_columns(self) -> dict[str, str]:
        """Return the registrations file's column (lower case) for each column read."""
        return {
            "practice_code": "code",
            "ccg_code": f"{self.area}_code",
            "postcode": "postcode",
            "list_size": "number_of_patients",
            "extract_date": "extract_date",
        }


LAYOUTS = (
    _Layout("2022 (CCG)", area="ccg", nest="stp", nest_column="stp"),
    _Layout("since July 2022 (sub-ICB location)", area="sub_icb_location", nest="icb", nest_column="icb"),
)


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_practices` did: counts, routes to coordinates and problems set aside.

    Attributes
    ----------
    layout
        The published layout recognised: ``"2022 (CCG)"`` or ``"since July 2022 (sub-ICB location)"``.
    extract_date
        The extract date of both files, ISO ``YYYY-MM-DD``.
    practices, patients
        Practices written and their registered patients.
    located
        Practices placed by each route, in the order tried: each postcode source (e.g.
        ``"OS Code-Point Open 2025.4"``), the shipped file, then ``"imputed from postcode neighbours"``.
    imputed
        Codes of the practices placed from their postcode neighbours.
    closed
        Codes of the practices with 0 patients (closed in the month), left out.
    totals
        Patients per CCG (sub-ICB) code.
    postcodes_differ
        Codes whose postcode differs between the two files (the map file's is kept).
    boundaries_without_practices
        ONS codes of boundary polygons no practice's area has (left out of the boundaries).
    areas_without_boundary
        CCG (sub-ICB) codes of practices that no boundary polygon matches.
    """

    layout: str
    extract_date: str
    practices: int
    patients: int
    located: Mapping[str, int]
    imputed: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    totals: Mapping[str, int] = field(default_factory=dict)
    postcodes_differ: tuple[str, ...] = ()
    boundaries_without_practices: tuple[str, ...] = ()
    areas_without_boundary: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Return the report as short lines of text."""
        out = [
            f"{self.practices:,} practices, {self.patients:,} patients in {len(self.totals)} areas "
            f"(layout {self.layout}, extract {self.extract_date})",
            "located: " + "; ".join(f"{route} {n:,}" for route, n in self.located.items()),
        ]
        named = {
            "imputed (check these)": self.imputed,
            "left out with 0 patients": self.closed,
            "postcode differs between the files (map file's kept)": self.postcodes_differ,
            "boundaries matching no practice's area, left out": self.boundaries_without_practices,
            "areas with no boundary polygon": self.areas_without_boundary,
        }
        out += [f"{what}: {len(codes)}: {_some(codes)}" for what, codes in named.items() if codes]
        return out


def _some(codes: tuple[str, ...] | list[str], show: int = _SHOW) -> str:
    more = f" and {len(codes) - show} more" if len(codes) > show else ""
    return ", ".join(codes[:show]) + more


# --- the two NHS Digital files ---------------------------------------------------------------


def _read_nhs(path: PathLike, *, what: str) -> pd.DataFrame:
    return read_text_csv(path, what=what, expect=f"NHS Digital's {what} (see README, 'footprint import')")


def _layout_of(frame: pd.DataFrame, path: PathLike, *, what: str) -> _Layout:
    """Return the layout whose area columns ``frame`` has, or raise naming found and expected."""
    other = "registrations" if what == "map file" else "map file"
    wrong = "number_of_patients" if what == "map file" else "pcn_code"
    if wrong in frame.columns:
        msg = (
            f"{what} {path} looks like the {other} (it has {wrong.upper()}): give gp-reg-pat-prac-all.csv "
            "as the registrations and gp-reg-pat-prac-map.csv as the map file"
        )
        raise DataError(msg)
    for layout in LAYOUTS:
        names = layout.map_columns() if what == "map file" else layout.registration_columns()
        if f"{layout.area}_code" not in frame.columns:
            continue
        missing = [c.upper() for c in names.values() if c not in frame.columns]
        if missing:
            msg = (
                f"{what} {path} (layout {layout.name}) lacks column(s) {', '.join(missing)}; "
                f"columns found: {', '.join(c.upper() for c in frame.columns)}; give the file as published"
            )
            raise DataError(msg)
        return layout
    expected = " or ".join(
        ", ".join(
            c.upper()
            for c in (lay.map_columns() if what == "map file" else lay.registration_columns()).values()
        )
        for lay in LAYOUTS
    )
    msg = (
        f"{what} {path} has an unknown layout: columns found {', '.join(c.upper() for c in frame.columns)}; "
        f"expected {expected}"
    )
    raise DataError(msg)


def _extract_date(frame: pd.DataFrame, path: PathLike, *, what: str) -> str:
    """Return the one extract date of a file as ISO text, or raise if it holds several."""
    dates = frame["extract_date"].value_counts()
    if len(dates) != 1:
        first = frame.groupby("extract_date")["practice_code"].first()
        parts = [f"{date or '(blank)'}: {n:,} rows, e.g. {first[date]}" for date, n in dates.items()]
        msg = f"{what} {path} mixes {len(dates)} extract dates ({'; '.join(parts)}): give one month's file"
        raise DataError(msg)
    text = str(dates.index[0])
    for fmt in ("%d%b%Y", "%Y-%m-%d", "%d/%m/%Y", "%d-%b-%Y"):
        try:
            return pd.to_datetime(text, format=fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    msg = f"{what} {path} has extract date {text!r}, not a date like 01Jan2022: give the file as published"
    raise DataError(msg)


def _read_map(path: PathLike) -> tuple[pd.DataFrame, _Layout, str]:
    frame = _read_nhs(path, what="map file")
    layout = _layout_of(frame, path, what="map file")
    frame = frame.rename(columns={v: k for k, v in layout.map_columns().items()})
    frame["practice_code"] = frame["practice_code"].str.upper()
    frame["ccg_code"] = frame["ccg_code"].str.upper()
    extra = [c for c in ("supplier_name",) if c in frame.columns]
    frame = frame[[*layout.map_columns(), *extra]]
    _check_codes(frame, path, what="map file")
    return frame, layout, _extract_date(frame, path, what="map file")


def _read_registrations(path: PathLike, layout: _Layout) -> tuple[pd.DataFrame, str]:
    frame = _read_nhs(path, what="registrations")
    found = _layout_of(frame, path, what="registrations")
    if found is not layout:
        msg = (
            f"registrations {path} has layout {found.name} but the map file {layout.name}: "
            "give both files of the same month"
        )
        raise DataError(msg)
    for column in ("sex", "age"):
        if column in frame.columns and (frame[column].str.upper() != "ALL").any():
            msg = (
                f"registrations {path} counts patients by {column} ({column.upper()} is not ALL): "
                "give gp-reg-pat-prac-all.csv, the totals file"
            )
            raise DataError(msg)
    if "type" in frame.columns:
        frame = frame[frame["type"].str.upper().isin(["GP", ""])]
    frame = frame.rename(columns={v: k for k, v in layout.registration_columns().items()})
    frame = frame[list(layout.registration_columns())].copy()
    frame["practice_code"] = frame["practice_code"].str.upper()
    frame["ccg_code"] = frame["ccg_code"].str.upper()
    _check_codes(frame, path, what="registrations")
    return frame, _extract_date(frame, path, what="registrations")


def _check_codes(frame: pd.DataFrame, path: PathLike, *, what: str) -> None:
    blank = frame.index[frame["practice_code"] == ""]
    if len(blank):
        lines = [str(i + 2) for i in blank]
        msg = f"{what} {path} has {len(blank)} row(s) with a blank practice code (lines {_some(lines)})"
        raise DataError(msg + ": give the file as published")
    dup = frame["practice_code"][frame["practice_code"].duplicated()]
    if len(dup):
        codes = sorted(set(dup))
        msg = f"{what} {path} repeats {len(codes)} practice code(s): {_some(codes)}; keep one row each"
        raise DataError(msg)


def _list_sizes(regs: pd.DataFrame, path: PathLike) -> pd.Series:
    """Return patients per practice as integers; raise naming values that are not whole numbers >= 0."""
    text = regs.set_index("practice_code")["list_size"]
    size = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    bad = size.isna() | (size < 0) | (size != size.round())
    if bad.any():
        named = [f"{code} '{value}'" for code, value in text[bad].items()]
        msg = (
            f"registrations {path} has {int(bad.sum())} NUMBER_OF_PATIENTS value(s) that are not whole "
            f"numbers of 0 or more: {_some(named)}; give the file as published"
        )
        raise DataError(msg)
    return size.astype(np.int64)


def _join(mapping: pd.DataFrame, regs: pd.DataFrame, paths: tuple[PathLike, PathLike]) -> pd.DataFrame:
    """Join list sizes onto the map file; raise on practices or areas one side lacks or disputes."""
    map_path, reg_path = paths
    codes_map, codes_reg = set(mapping["practice_code"]), set(regs["practice_code"])
    for only, there, missing in (
        (codes_map - codes_reg, f"map file {map_path}", f"registrations {reg_path}"),
        (codes_reg - codes_map, f"registrations {reg_path}", f"map file {map_path}"),
    ):
        if only:
            msg = (
                f"{len(only)} practice(s) are in the {there} but not in the {missing}: "
                f"{_some(sorted(only))}; give both files of the same month"
            )
            raise DataError(msg)
    joined = mapping.set_index("practice_code")
    other = regs.set_index("practice_code").reindex(joined.index)
    moved = joined.index[joined["ccg_code"] != other["ccg_code"]]
    if len(moved):
        named = [f"{c} ({joined.at[c, 'ccg_code']} vs {other.at[c, 'ccg_code']})" for c in moved]
        msg = f"{len(moved)} practice(s) have a different area code in the two files: {_some(named)}"
        raise DataError(msg + "; give both files of the same month")
    joined["list_size"] = _list_sizes(regs, reg_path).reindex(joined.index)
    norm = _normalise(joined["postcode"]) != _normalise(other["postcode"])
    joined["postcode_differs"] = norm.to_numpy()
    return joined


# --- postcode lookups ---------------------------------------------------------------------------


def _normalise(postcodes: pd.Series) -> pd.Series:
    return postcodes.astype(str).str.upper().str.replace(r"\s+", "", regex=True)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _codepoint_label(version: str) -> str:
    parts = re.findall(r"\d+", version)
    return "OS Code-Point Open " + ".".join(parts[:2]) if parts else "OS Code-Point Open"


class _Members:
    """The CSV and text files of a folder or ZIP archive, opened by name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if zipfile.is_zipfile(path) else None
        if self.zip is not None:
            self.names = sorted(n for n in self.zip.namelist() if not n.endswith("/"))
        else:
            self.names = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())

    def open(self, name: str) -> IO[bytes]:
        if self.zip is not None:
            return self.zip.open(name)
        return (self.path / name).open("rb")

    def text(self, name: str) -> str:
        with self.open(name) as fh:
            return fh.read().decode("utf-8-sig", errors="replace")


def _headed(first_line: str) -> bool:
    """Return whether a CSV's first line is a header naming a postcode column."""
    cells = [c.strip().strip('"').lower() for c in first_line.split(",")]
    return any(c in ("postcode", "pcd", "pcds", "pcd2", "pc") for c in cells)


def _codepoint_headers(members: _Members) -> list[str]:
    names = [n for n in members.names if "column_headers" in n.lower() and n.lower().endswith(".csv")]
    if not names:
        logger.info("no Code-Point column-header file in %s: using the published columns", members.path)
        return list(CODEPOINT_COLUMNS)
    lines = [ln for ln in members.text(names[0]).splitlines() if ln.strip()]
    return [c.strip() for c in lines[-1].split(",")]


def _codepoint_version(members: _Members) -> str:
    for name in (n for n in members.names if "metadata" in n.lower() and n.lower().endswith(".txt")):
        found = re.search(r"DATASET VERSION NUMBER:\s*([\d.]+)", members.text(name))
        if found:
            return found.group(1)
    return ""


def _headed_table(fh: IO[bytes] | Path, where: str, wanted: set[str] | None) -> pd.DataFrame:
    """Read a CSV whose header names postcode, eastings and northings (or ONSPD's names)."""
    frame = pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=0)
    columns = {str(c).strip().lower(): c for c in frame.columns}
    pick = {
        "postcode": ("postcode", "pcds", "pcd", "pcd2", "pc"),
        "easting": ("eastings", "easting", "oseast1m", "ea"),
        "northing": ("northings", "northing", "osnrth1m", "no"),
        "quality": ("positional_quality_indicator", "pq"),
        "version": ("codepoint_version", "version"),
    }
    chosen = {k: next((columns[n] for n in names if n in columns), None) for k, names in pick.items()}
    missing = [k for k in ("postcode", "easting", "northing") if chosen[k] is None]
    if missing:
        msg = (
            f"postcode lookup {where} has no {' or '.join(missing)} column (columns found: "
            f"{', '.join(map(str, frame.columns))}); give OS Code-Point Open, the ONS Postcode Directory "
            "or a CSV with postcode, eastings and northings columns"
        )
        raise DataError(msg)
    if hasattr(fh, "seek"):
        fh.seek(0)
    use = {v: k for k, v in chosen.items() if v is not None}
    table = pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8-sig", usecols=list(use))
    table = table.rename(columns=use)
    onspd = "oseast1m" in columns
    label = "ONS Postcode Directory" if onspd else Path(where).name
    table["source"] = table["version"].map(_codepoint_label) if "version" in table else label
    return _keep_wanted(table, wanted)


def _headerless_table(
    fh: IO[bytes], headers: list[str], version: str, wanted: set[str] | None
) -> pd.DataFrame:
    table = pd.read_csv(fh, header=None, names=headers, usecols=range(4), dtype=str, keep_default_na=False)
    table.columns = ["postcode", "quality", "easting", "northing"]
    table["version"] = version
    table["source"] = _codepoint_label(version)
    return _keep_wanted(table, wanted)


def _keep_wanted(table: pd.DataFrame, wanted: set[str] | None) -> pd.DataFrame:
    table["postcode"] = _normalise(table["postcode"])
    return table if wanted is None else table[table["postcode"].isin(wanted)]


def _tables(path: Path, wanted: set[str] | None) -> Iterator[pd.DataFrame]:
    """Yield the postcode tables of a file, folder or ZIP."""
    if path.is_file() and not zipfile.is_zipfile(path):
        with path.open("rb") as fh:
            yield _table(fh, str(path), (list(CODEPOINT_COLUMNS), ""), wanted)
        return
    members = _Members(path)
    csvs = [n for n in members.names if n.lower().endswith(".csv") and "column_headers" not in n.lower()]
    data = [n for n in csvs if "data/" in n.lower().replace("\\", "/")] or csvs
    codepoint = (_codepoint_headers(members), _codepoint_version(members))
    for name in data:
        with members.open(name) as fh:
            yield _table(fh, f"{path}/{name}", codepoint, wanted)


def _table(
    fh: IO[bytes], where: str, codepoint: tuple[list[str], str], wanted: set[str] | None
) -> pd.DataFrame:
    """Read one CSV of a lookup: headed (any layout) or headerless Code-Point with ``codepoint`` columns."""
    first = fh.readline().decode("utf-8-sig", errors="replace")
    fh.seek(0)
    if _headed(first):
        return _headed_table(fh, where, wanted)
    return _headerless_table(fh, *codepoint, wanted)


def read_postcode_lookup(path: PathLike, *, postcodes: pd.Series | None = None) -> pd.DataFrame:
    """Read a postcode lookup and return one point per postcode in British National Grid.

    Parameters
    ----------
    path
        One of: OS Code-Point Open as published (a folder or ZIP holding headerless CSVs,
        read with its ``Code-Point_Open_Column_Headers.csv`` and version from its
        ``metadata.txt``); a CSV whose header names ``postcode``, ``eastings`` and
        ``northings`` (optionally ``codepoint_version``, ``positional_quality_indicator``);
        or the ONS Postcode Directory CSV (``pcds``, ``oseast1m``, ``osnrth1m``).
    postcodes
        Keep only these postcodes (any spacing or case); default all.

    Returns
    -------
    pandas.DataFrame
        Indexed by postcode without spaces, upper case; columns ``easting``, ``northing``
        (float metres), ``source`` (e.g. ``"OS Code-Point Open 2025.4"``) and ``quality``
        (Code-Point positional quality, else blank). Where a postcode appears in several
        vintages the newest is kept.

    Raises
    ------
    DataError
        If the path is missing, or a CSV lacks the postcode or coordinate columns.

    Examples
    --------
    >>> from pathlib import Path
    >>> lookup = read_postcode_lookup(Path("tests/data/import/codepoint_open_practice_postcodes.csv"))
    >>> row = lookup.loc["SS89SU"]
    >>> float(row["easting"]), float(row["northing"]), row["source"]
    (578160.0, 183824.0, 'OS Code-Point Open 2025.4')
    """
    path = Path(path)
    if not path.exists():
        msg = f"postcode lookup {path} does not exist: give OS Code-Point Open (folder or ZIP) or a CSV"
        raise DataError(msg)
    wanted = None if postcodes is None else set(_normalise(postcodes))
    tables = [t for t in _tables(path, wanted) if len(t)]
    columns = ["postcode", "easting", "northing", "source", "quality", "version"]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    for column in ("quality", "version"):
        if column not in table:
            table[column] = ""
    for column in ("easting", "northing"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    table = table.dropna(subset=["easting", "northing"])
    key = table["version"].map(_version_key)
    table = table.assign(_key=key).sort_values("_key", ascending=False, kind="stable")
    table = table.drop_duplicates("postcode").set_index("postcode")
    logger.info("read %d postcodes from %s", len(table), path)
    return table[["easting", "northing", "source", "quality"]]


# --- coordinates ------------------------------------------------------------------------------


def _shipped_points(path: PathLike) -> pd.DataFrame:
    """Return the shipped file's located practices: code, postcode, easting, northing, source."""
    frame = read_text_csv(
        path, what="fallback practices file", expect="a practices CSV with easting/northing"
    )
    frame = frame[(frame.get("easting", "") != "") & (frame.get("northing", "") != "")]
    frame = frame.set_index(frame["practice_code"].str.upper())
    return frame.assign(key=_normalise(frame["postcode"]))


def _locate(practices: pd.DataFrame, lookup: pd.DataFrame | None, fallback: PathLike | None) -> pd.DataFrame:
    """Add ``easting``, ``northing``, ``coord_source`` and ``codepoint_pq``: lookup, then fallback."""
    key = _normalise(practices["postcode"])
    out = pd.DataFrame(
        {"easting": np.nan, "northing": np.nan, "coord_source": "", "codepoint_pq": ""}, index=practices.index
    )
    if lookup is not None:
        hit = key.isin(lookup.index)
        found = lookup.reindex(key[hit])
        out.loc[hit, ["easting", "northing"]] = found[["easting", "northing"]].to_numpy()
        out.loc[hit, "coord_source"] = found["source"].to_numpy()
        out.loc[hit, "codepoint_pq"] = found["quality"].to_numpy()
    if fallback is not None:
        shipped = _shipped_points(fallback)
        still = out["easting"].isna() & practices.index.isin(shipped.index)
        same = still & (shipped["key"].reindex(practices.index) == key)
        rows = shipped.reindex(practices.index[same])
        out.loc[same, "easting"] = pd.to_numeric(rows["easting"]).to_numpy()
        out.loc[same, "northing"] = pd.to_numeric(rows["northing"]).to_numpy()
        out.loc[same, "coord_source"] = (f"{SHIPPED} (" + rows.get("coord_source", "") + ")").to_numpy()
        out.loc[same, "codepoint_pq"] = rows.get("codepoint_pq", "").to_numpy()
    return out


def _impute(table: pd.DataFrame) -> pd.DataFrame:
    """Check the table as every command will, placing unlocated practices from their neighbours."""
    text = table.reset_index().astype(str)
    for column in ("easting", "northing"):
        text[column] = [f"{v:.0f}" if np.isfinite(v) else "" for v in table[column].astype(float)]
    checked = validate_practices(text, source="the imported practices", impute="postcode")
    imputed = checked.index[checked["imputed"]]
    table = table.copy()
    table.loc[imputed, "easting"] = checked.geometry.x[imputed].to_numpy()
    table.loc[imputed, "northing"] = checked.geometry.y[imputed].to_numpy()
    table.loc[imputed, "coord_source"] = IMPUTED
    return table


def _route_order(route: str) -> tuple:
    """Order routes as tried: lookup sources newest first, the shipped file, then imputation."""
    return (route == IMPUTED, route.startswith(SHIPPED), tuple(-n for n in _version_key(route)), route)


def _with_latlon(table: pd.DataFrame) -> pd.DataFrame:
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    east, north = table["easting"].round().astype(np.int64), table["northing"].round().astype(np.int64)
    lon, lat = to_wgs84.transform(east.to_numpy(dtype=float), north.to_numpy(dtype=float))
    return table.assign(
        easting=east, northing=north, lat=[str(round(v, 6)) for v in lat], lon=[str(round(v, 6)) for v in lon]
    )


# --- boundaries -------------------------------------------------------------------------------


def boundaries_from_ons(
    path: PathLike, areas: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, tuple[str, ...], tuple[str, ...]]:
    """Read ONS CCG or sub-ICB boundaries and key them by the NHS code of the practices' areas.

    Parameters
    ----------
    path
        A GeoJSON, GeoPackage or shapefile as ONS publishes it, with a ``SICBLyyCD`` or
        ``CCGyyCD`` column (ONS ``E38...`` code) and its ``...NM`` name column.
    areas
        Practices (or areas) with columns ``ccg_code``, ``ccg_ons_code`` and ``ccg_name``:
        how the map file pairs the NHS code with the ONS one.

    Returns
    -------
    tuple
        The polygons in EPSG:4326 with columns ``ccg_code``, ``ccg_name``, ``ccg_ons_code``;
        the ONS codes of polygons no area has (left out); and the NHS codes of areas
        without a polygon.

    Raises
    ------
    DataError
        If the file is missing or unreadable, has no ONS code column, or the map file
        pairs one code with two others.
    """
    path = Path(path)
    if not path.exists():
        msg = f"ONS boundaries {path} do not exist: give the GeoJSON, GeoPackage or shapefile ONS publishes"
        raise DataError(msg)
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        msg = f"ONS boundaries {path} cannot be read as a vector file ({exc}); give GeoJSON or GeoPackage"
        raise DataError(msg) from None
    code_col = next((c for c in frame.columns if re.fullmatch(r"(SICBL|CCG)\d\dCD", str(c), re.I)), None)
    if code_col is None:
        msg = (
            f"ONS boundaries {path} have no SICBLyyCD or CCGyyCD column (found: "
            f"{', '.join(str(c) for c in frame.columns if c != 'geometry')}); "
            "give ONS sub-ICB or CCG boundaries"
        )
        raise DataError(msg)
    pairs = areas[["ccg_ons_code", "ccg_code", "ccg_name"]].drop_duplicates()
    for column in ("ccg_ons_code", "ccg_code"):
        twice = pairs[column][pairs[column].duplicated()]
        if len(twice):
            msg = f"the map file pairs {column} {_some(sorted(set(twice)))} with more than one area code"
            raise DataError(msg + ": give the file as published")
    ons = frame[code_col].astype(str).str.strip().str.upper()
    known = pairs.set_index("ccg_ons_code")
    unmatched = tuple(sorted(set(ons) - set(known.index)))
    missing = tuple(sorted(known.loc[sorted(set(known.index) - set(ons)), "ccg_code"]))
    keep = ons.isin(known.index).to_numpy()
    matched = known.reindex(ons[keep])
    out = gpd.GeoDataFrame(
        {
            "ccg_code": matched["ccg_code"].to_numpy(),
            "ccg_name": matched["ccg_name"].to_numpy(),
            "ccg_ons_code": ons[keep].to_numpy(),
        },
        geometry=frame.geometry[keep].to_numpy(),
        crs=frame.crs,
    )
    out = out.to_crs("EPSG:4326") if out.crs is not None else out.set_crs("EPSG:4326")
    return out.sort_values("ccg_code").reset_index(drop=True), unmatched, missing


# --- the import -------------------------------------------------------------------------------


def _read_both(registrations: PathLike, mapping: PathLike) -> tuple[pd.DataFrame, _Layout, str]:
    practices, layout, date = _read_map(mapping)
    regs, reg_date = _read_registrations(registrations, layout)
    if reg_date != date:
        msg = (
            f"registrations {registrations} are extracted on {reg_date} but the map file {mapping} "
            f"on {date}: give both files of the same month"
        )
        raise DataError(msg)
    return _join(practices, regs, (mapping, registrations)), layout, date


def import_practices(
    registrations: PathLike,
    mapping: PathLike,
    *,
    postcodes: PathLike | None = None,
    ons_boundaries: PathLike | None = None,
    fallback: PathLike | None = PRACTICES_FILE,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame | None, ImportReport]:
    """Join NHS Digital's monthly practice files into a practices table in footprint's schema.

    Parameters
    ----------
    registrations
        ``gp-reg-pat-prac-all.csv``: patients per practice (``NUMBER_OF_PATIENTS``).
    mapping
        ``gp-reg-pat-prac-map.csv`` of the same month: name, postcode, PCN, CCG or sub-ICB
        location, STP or ICB and region of each practice.
    postcodes
        A postcode lookup (see :func:`read_postcode_lookup`); ``None`` uses none.
    ons_boundaries
        ONS CCG or sub-ICB boundaries (see :func:`boundaries_from_ons`); ``None`` skips them.
    fallback
        A practices file whose coordinates are used for a practice the lookup lacks, when
        it has the same code and postcode there; default the shipped file; ``None`` uses none.

    Returns
    -------
    tuple
        The practices (text columns of the shipped file's schema, ``stp_*`` or ``icb_*``
        for the nesting area as the layout has it, sorted by code), the boundaries with
        ``ccg_code`` (or ``None``) and an :class:`ImportReport`. Practices the lookup and
        fallback both lack are placed from their postcode neighbours and flagged in
        ``coord_source``; practices with 0 patients are left out and listed.

    Raises
    ------
    DataError
        One line naming the file, the rows or codes and the fix: a file given for the
        other, an unknown layout or missing columns, blank or repeated codes, mixed
        extract dates, practices in one file only or in different areas, patients that
        are not whole numbers, or practices outside England.

    Examples
    --------
    >>> d = "tests/data/import/"
    >>> table, _, report = import_practices(
    ...     d + "gp-reg-pat-prac-all.csv",
    ...     d + "gp-reg-pat-prac-map.csv",
    ...     postcodes=d + "codepoint_open_practice_postcodes.csv",
    ...     fallback=None,
    ... )
    >>> len(table), dict(report.located)
    (62, {'OS Code-Point Open 2025.4': 61, 'imputed from postcode neighbours': 1})
    """
    joined, layout, date = _read_both(registrations, mapping)
    closed = tuple(sorted(joined.index[joined["list_size"] == 0]))
    if closed:
        logger.warning(
            "%d practice(s) have 0 patients and are left out: %s", len(closed), _some(list(closed))
        )
    joined = joined[joined["list_size"] > 0].sort_index()
    lookup = None if postcodes is None else read_postcode_lookup(postcodes, postcodes=joined["postcode"])
    table = pd.concat([joined, _locate(joined, lookup, fallback)], axis=1)
    table = _with_latlon(_impute(table.assign(data_date=date)))
    table.index.name = "practice_code"
    columns = [c.format(nest=layout.nest) for c in COLUMNS] + [c for c in ("supplier_name",) if c in table]
    boundaries: gpd.GeoDataFrame | None = None
    unmatched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    if ons_boundaries is not None:
        boundaries, unmatched, missing = boundaries_from_ons(ons_boundaries, table)
    routes = table["coord_source"].value_counts(sort=False)
    order = sorted(routes.index, key=_route_order)
    report = ImportReport(
        layout=layout.name,
        extract_date=date,
        practices=len(table),
        patients=int(table["list_size"].sum()),
        located={r: int(routes[r]) for r in order},
        imputed=tuple(table.index[table["coord_source"] == IMPUTED]),
        closed=closed,
        totals={str(k): int(v) for k, v in table.groupby("ccg_code")["list_size"].sum().items()},
        postcodes_differ=tuple(table.index[table["postcode_differs"]]),
        boundaries_without_practices=unmatched,
        areas_without_boundary=missing,
    )
    return table.reset_index()[columns].astype(str), boundaries, report
