"""Import NHS Digital's practice files, a postcode lookup and ONS boundaries into footprint's schema.

NHS Digital publishes "Patients Registered at a GP Practice" every month: a registrations
file (``gp-reg-pat-prac-all.csv``, patients per practice) and a map file
(``gp-reg-pat-prac-map.csv``, practice to PCN, CCG or sub-ICB location, STP or ICB and
region). :func:`import_practices` joins the two, checks the join, places each practice at
its postcode's centroid and returns a practices table that :func:`footprint.load.read_practices`
reads, with the ONS boundaries of the same areas keyed by the NHS code when given.

Postcodes are looked up in the shipped England lookup (OS Code-Point Open 2025.4, built by
``scripts/build_postcodes.py``) unless another lookup is given, so any month imports offline.
The two files may be of different months when asked (``months_apart="allow"``): areas and
PCNs then come from the map file, patients from the registrations, and practices in one file
only are left out and listed.

Two layouts are known: the 2022 one (``CCG_CODE``, ``ONS_CCG_CODE``, ``STP_CODE`` ...) and
the one used since July 2022 (``SUB_ICB_LOCATION_CODE``, ``ICB_CODE`` ...). Sub-ICB
locations play the part of CCGs (``ccg_code``); ICB codes and names are kept as columns.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from footprint._io import read_text_csv
from footprint.errors import DataError
from footprint.load import CRS, PRACTICES_FILE, validate_practices
from footprint.ons_boundaries import _read_boundaries, boundaries_from_ons
from footprint.postcodes import (
    POSTCODES_FILE,
    SortedLookup,
    normalise,
    read_postcode_lookup,
    version_key,
)

__all__ = [
    "MAX_IMPUTED_KM",
    "POSTCODES_FILE",
    "ImportReport",
    "boundaries_from_ons",
    "import_practices",
    "read_postcode_lookup",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
MonthsApart = Literal["raise", "allow"]
FarImputed = Literal["raise", "keep"]

#: Farthest, in km, a practice placed from its postcode neighbours may lie from its postcode
#: district's centre before the import stops (``far_imputed="raise"``).
MAX_IMPUTED_KM = 5.0

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
        The map file's extract date (areas, PCNs, names and postcodes), ISO ``YYYY-MM-DD``;
        the practices file's ``data_date``.
    practices, patients
        Practices written and their registered patients.
    located
        Practices placed by each route, in the order tried: each postcode source (e.g.
        ``"OS Code-Point Open 2025.4"``), the shipped file, then ``"imputed from postcode neighbours"``.
    list_size_date
        The registrations file's extract date (the patients'); the same as ``extract_date``
        unless the files were allowed to be months apart.
    imputed
        Codes of the practices placed from their postcode neighbours.
    imputed_km
        For each of those, the km from its point to the centre of its postcode district in
        the shipped England lookup (NaN where that district is not in it).
    closed
        Codes of the practices with 0 patients (closed in the month), left out.
    registrations_only
        Practices in the registrations but not the map file (closed or merged by the map's
        month), with their patients: left out. Only when the files are months apart.
    same_postcode
        Those of them at the postcode of practices in the map file (perhaps merged into them,
        whose list sizes then lack their patients), with those practices' codes.
    map_only
        Practices in the map file but not the registrations (opened after the list sizes'
        month): left out, having no list size. Only when the files are months apart.
    areas_differ
        Practices whose area differs between the files, with the registrations' area (the
        map file's is kept). Only when the files are months apart.
    totals
        Patients per CCG (sub-ICB) code.
    postcodes_differ
        Codes whose postcode differs between the two files (the map file's is kept).
    boundary_codes
        How the boundaries were keyed: the field read and what it holds, e.g.
        ``"field code (ONS E38 codes, recognised by content)"``; blank without boundaries.
    boundaries_without_practices
        Codes, as the boundaries give them, of polygons no practice's area has (left out).
    areas_without_boundary
        CCG (sub-ICB) codes of practices that no boundary polygon matches.
    """

    layout: str
    extract_date: str
    practices: int
    patients: int
    located: Mapping[str, int]
    list_size_date: str = ""
    imputed: tuple[str, ...] = ()
    imputed_km: Mapping[str, float] = field(default_factory=dict)
    closed: tuple[str, ...] = ()
    registrations_only: Mapping[str, int] = field(default_factory=dict)
    same_postcode: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    map_only: tuple[str, ...] = ()
    areas_differ: Mapping[str, str] = field(default_factory=dict)
    totals: Mapping[str, int] = field(default_factory=dict)
    postcodes_differ: tuple[str, ...] = ()
    boundary_codes: str = ""
    boundaries_without_practices: tuple[str, ...] = ()
    areas_without_boundary: tuple[str, ...] = ()

    @property
    def days_apart(self) -> int:
        """Days between the list sizes' extract date and the map file's (0 when the same)."""
        return _apart(self.extract_date, self.list_size_date)[1] if self.list_size_date else 0

    @property
    def months_apart(self) -> int:
        """Calendar months between the list sizes' extract date and the map file's."""
        return _apart(self.extract_date, self.list_size_date)[0] if self.list_size_date else 0

    def lines(self) -> list[str]:
        """Return the report as short lines of text."""
        out = [
            f"{self.practices:,} practices, {self.patients:,} patients in {len(self.totals)} areas "
            f"(layout {self.layout}, extract {self.extract_date})",
        ]
        if self.days_apart:
            older = "older" if self.list_size_date < self.extract_date else "newer"
            out.append(
                f"months apart: list sizes of {self.list_size_date} are "
                f"{_gap(self.extract_date, self.list_size_date)} {older} than the map "
                f"file of {self.extract_date}; areas and PCNs are the map file's, patients the list sizes'"
            )
        if self.registrations_only:
            codes = sorted(self.registrations_only)
            out.append(
                f"in the registrations only, left out (not in the map file of {self.extract_date}: closed or "
                f"merged): {_n(len(codes))}, {sum(self.registrations_only.values()):,} patients: "
                + _some(codes, show=50)
            )
        if self.same_postcode:
            named = [f"{c} ({', '.join(at)})" for c, at in sorted(self.same_postcode.items())]
            out.append(
                "of those, at the postcode of a practice in the map file (merged into it? its list size "
                f"lacks their patients): {len(named)}: " + ", ".join(named)
            )
        if self.map_only:
            out.append(
                f"in the map file only, left out (no list size of {self.list_size_date}): "
                f"{_n(len(self.map_only))}: " + _some(self.map_only, show=50)
            )
        out.append("located: " + "; ".join(f"{route} {n:,}" for route, n in self.located.items()))
        if self.imputed:
            named = [f"{code} {_km(self.imputed_km.get(code, math.nan))}" for code in self.imputed]
            what = "imputed (check these; km from their postcode district's centre)"
            out.append(f"{what}: {len(named)}: {_some(named)}")
        areas = [f"{code} ({area} in the registrations)" for code, area in self.areas_differ.items()]
        named_codes = {
            "left out with 0 patients": self.closed,
            "area differs between the files (map file's kept)": tuple(areas),
            "postcode differs between the files (map file's kept)": self.postcodes_differ,
            "boundaries matching no practice's area, left out": self.boundaries_without_practices,
            "areas with no boundary polygon": self.areas_without_boundary,
        }
        out += [f"{what}: {len(codes)}: {_some(codes)}" for what, codes in named_codes.items() if codes]
        if self.boundary_codes:
            out.append(f"boundaries keyed by {self.boundary_codes}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready values, with ``months_apart`` and ``days_apart``."""
        out = asdict(self)
        out["imputed_km"] = {c: (None if math.isnan(km) else km) for c, km in self.imputed_km.items()}
        out.update(months_apart=self.months_apart, days_apart=self.days_apart)
        return out


def _apart(a: str, b: str) -> tuple[int, int]:
    """Return the calendar months and the days between two ISO dates."""
    x, y = pd.Timestamp(a), pd.Timestamp(b)
    return abs((x.year - y.year) * 12 + x.month - y.month), abs((x - y).days)


def _gap(a: str, b: str) -> str:
    """Say how far apart two ISO dates are, e.g. ``"6 months (183 days)"``."""
    months, days = _apart(a, b)
    return f"{months} month{'s' * (months != 1)} ({days} days)" if months else f"{days} days"


def _n(practices: int) -> str:
    return f"{practices:,} practice{'s' * (practices != 1)}"


def _km(km: float) -> str:
    return "(district not in the lookup)" if math.isnan(km) else f"{km:.1f} km"


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


def _read_registrations(path: PathLike) -> tuple[pd.DataFrame, _Layout, str]:
    frame = _read_nhs(path, what="registrations")
    layout = _layout_of(frame, path, what="registrations")
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
    return frame, layout, _extract_date(frame, path, what="registrations")


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


@dataclass(frozen=True)
class _Joined:
    """The two files joined: the practices, and what a join of different months set aside."""

    table: pd.DataFrame
    registrations_only: dict[str, int]
    same_postcode: dict[str, tuple[str, ...]]
    map_only: tuple[str, ...]
    areas_differ: dict[str, str]


def _same_postcode(mapping: pd.DataFrame, gone: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Return, for each practice in ``gone``, the map file's practices at its postcode (if any)."""
    keys = normalise(gone["postcode"])
    here = normalise(mapping["postcode"])
    at: dict[str, list[str]] = {}
    for code, key in zip(mapping["practice_code"][here.isin(keys)], here[here.isin(keys)], strict=True):
        at.setdefault(key, []).append(code)
    return {c: tuple(sorted(at[k])) for c, k in zip(gone["practice_code"], keys, strict=True) if k in at}


def _join(
    mapping: pd.DataFrame, regs: pd.DataFrame, paths: tuple[PathLike, PathLike], *, apart: bool
) -> _Joined:
    """Join list sizes onto the map file; raise on practices or areas one side lacks or disputes.

    With ``apart`` (files of different months, allowed) practices in one file only are left
    out and a practice's area may differ (the map file's is kept); both are returned.
    """
    map_path, reg_path = paths
    sizes = _list_sizes(regs, reg_path)
    codes_map, codes_reg = set(mapping["practice_code"]), set(regs["practice_code"])
    for only, there, missing in (
        (codes_map - codes_reg, f"map file {map_path}", f"registrations {reg_path}"),
        (codes_reg - codes_map, f"registrations {reg_path}", f"map file {map_path}"),
    ):
        if only and not apart:
            msg = (
                f"{len(only)} practice(s) are in the {there} but not in the {missing}: "
                f"{_some(sorted(only))}; give both files of the same month"
            )
            raise DataError(msg)
    joined = mapping[mapping["practice_code"].isin(codes_reg)].set_index("practice_code")
    other = regs.set_index("practice_code").reindex(joined.index)
    moved = joined.index[joined["ccg_code"] != other["ccg_code"]]
    if len(moved) and not apart:
        named = [f"{c} ({joined.at[c, 'ccg_code']} vs {other.at[c, 'ccg_code']})" for c in moved]
        msg = f"{len(moved)} practice(s) have a different area code in the two files: {_some(named)}"
        raise DataError(msg + "; give both files of the same month")
    joined["list_size"] = sizes.reindex(joined.index)
    norm = normalise(joined["postcode"]) != normalise(other["postcode"])
    joined["postcode_differs"] = norm.to_numpy()
    return _Joined(
        table=joined,
        registrations_only={c: int(sizes[c]) for c in sorted(codes_reg - codes_map)},
        same_postcode=_same_postcode(mapping, regs[regs["practice_code"].isin(codes_reg - codes_map)]),
        map_only=tuple(sorted(codes_map - codes_reg)),
        areas_differ={c: str(other.at[c, "ccg_code"]) for c in moved},
    )


# --- coordinates ------------------------------------------------------------------------------


def _shipped_points(path: PathLike) -> pd.DataFrame:
    """Return the shipped file's located practices: code, postcode, easting, northing, source."""
    frame = read_text_csv(
        path, what="fallback practices file", expect="a practices CSV with easting/northing"
    )
    frame = frame[(frame.get("easting", "") != "") & (frame.get("northing", "") != "")]
    frame = frame.set_index(frame["practice_code"].str.upper())
    return frame.assign(key=normalise(frame["postcode"]))


def _locate(practices: pd.DataFrame, lookup: pd.DataFrame | None, fallback: PathLike | None) -> pd.DataFrame:
    """Add ``easting``, ``northing``, ``coord_source`` and ``codepoint_pq``: lookup, then fallback."""
    key = normalise(practices["postcode"])
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


def _imputed_km(
    table: pd.DataFrame, codes: pd.Index, england: SortedLookup | None = None
) -> dict[str, float]:
    """Return km from each practice in ``codes`` to its postcode district's centre (NaN: unknown).

    The centres are those of the shipped England lookup (``england`` if already read).
    """
    if not len(codes):
        return {}
    districts = normalise(table.loc[codes, "postcode"]).str[:-3]
    england = england or SortedLookup.read(POSTCODES_FILE)
    if england is None:
        msg = f"the shipped postcode lookup {POSTCODES_FILE} is not in its layout: reinstall footprint"
        raise DataError(msg)
    centres = england.centres(districts)
    out = {}
    for code, district in districts.items():
        x, y = centres.get(district, (math.nan, math.nan))
        out[str(code)] = round(
            math.hypot(table.at[code, "easting"] - x, table.at[code, "northing"] - y) / 1000, 1
        )
    return out


def _check_imputed(table: pd.DataFrame, km: Mapping[str, float], far_imputed: FarImputed) -> None:
    """Raise naming the practices placed far from their postcode district, unless kept on purpose."""
    far = [c for c, d in km.items() if not d <= MAX_IMPUTED_KM]
    for code in far:
        logger.info(
            "%s (%s) was placed from its postcode neighbours %s from its postcode district's centre",
            code, table.at[code, "postcode"], _km(km[code]),
        )  # fmt: skip
    if far and far_imputed == "raise":
        named = [f"{c} ({table.at[c, 'postcode']}, {_km(km[c])})" for c in far]
        msg = (
            f"{len(far)} practice(s) placed from their postcode neighbours lie more than "
            f"{MAX_IMPUTED_KM:g} km from their postcode district's centre, or their district is in no "
            f"lookup: {_some(named)}; "
            "correct their postcodes in the map file, give a postcode lookup that has them, or pass "
            "far_imputed='keep' to keep them where their neighbours put them"
        )
        raise DataError(msg)


def _route_order(route: str) -> tuple:
    """Order routes as tried: lookup sources newest first, the shipped file, then imputation."""
    return (route == IMPUTED, route.startswith(SHIPPED), tuple(-n for n in version_key(route)), route)


def _with_latlon(table: pd.DataFrame) -> pd.DataFrame:
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    east, north = table["easting"].round().astype(np.int64), table["northing"].round().astype(np.int64)
    lon, lat = to_wgs84.transform(east.to_numpy(dtype=float), north.to_numpy(dtype=float))
    return table.assign(
        easting=east, northing=north, lat=[str(round(v, 6)) for v in lat], lon=[str(round(v, 6)) for v in lon]
    )


# --- the import -------------------------------------------------------------------------------


def _read_both(
    registrations: PathLike, mapping: PathLike, *, months_apart: MonthsApart
) -> tuple[_Joined, _Layout, str, str]:
    """Read and join the two files: the join, the map's layout, its date and the list sizes' date."""
    practices, layout, date = _read_map(mapping)
    regs, reg_layout, reg_date = _read_registrations(registrations)
    allow = ", or pass months_apart='allow' to join them anyway"
    if reg_layout is not layout and not (months_apart == "allow" and reg_date != date):
        msg = (
            f"registrations {registrations} has layout {reg_layout.name} but the map file {layout.name}: "
            f"give both files of the same month{allow * (reg_date != date)}"
        )
        raise DataError(msg)
    if reg_date != date and months_apart != "allow":
        msg = (
            f"registrations {registrations} are extracted on {reg_date} but the map file {mapping} on "
            f"{date}, {_gap(date, reg_date)} apart: give both files of the same month{allow} (areas "
            "and PCNs from the map file, patients from the registrations, practices in one file only left "
            "out and listed)"
        )
        raise DataError(msg)
    joined = _join(practices, regs, (mapping, registrations), apart=reg_date != date)
    if reg_date != date:
        logger.info(
            "list sizes of %s joined to the map file of %s, %s apart", reg_date, date, _gap(date, reg_date)
        )
    return joined, layout, date, reg_date


def _check_policy(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        msg = f"{name}={value!r} is not an option: give {' or '.join(repr(a) for a in allowed)}"
        raise ValueError(msg)


def _report(
    table: pd.DataFrame, joined: _Joined, layout: _Layout, dates: tuple[str, str], **found: Any
) -> ImportReport:
    """Gather the report of an import from its table, join and what else was ``found``."""
    routes = table["coord_source"].value_counts(sort=False)
    order = sorted(routes.index, key=_route_order)
    return ImportReport(
        layout=layout.name,
        extract_date=dates[0],
        list_size_date=dates[1],
        practices=len(table),
        patients=int(table["list_size"].sum()),
        located={r: int(routes[r]) for r in order},
        imputed=tuple(table.index[table["coord_source"] == IMPUTED]),
        registrations_only=joined.registrations_only,
        same_postcode=joined.same_postcode,
        map_only=joined.map_only,
        areas_differ=joined.areas_differ,
        totals={str(k): int(v) for k, v in table.groupby("ccg_code")["list_size"].sum().items()},
        postcodes_differ=tuple(table.index[table["postcode_differs"]]),
        **found,
    )


def import_practices(
    registrations: PathLike,
    mapping: PathLike,
    *,
    postcodes: PathLike | None = POSTCODES_FILE,
    ons_boundaries: PathLike | None = None,
    fallback: PathLike | None = PRACTICES_FILE,
    months_apart: MonthsApart = "raise",
    far_imputed: FarImputed = "raise",
    code_field: str | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame | None, ImportReport]:
    """Join NHS Digital's monthly practice files into a practices table in footprint's schema.

    Parameters
    ----------
    registrations
        ``gp-reg-pat-prac-all.csv`` (or its ZIP as published): patients per practice
        (``NUMBER_OF_PATIENTS``).
    mapping
        ``gp-reg-pat-prac-map.csv``: name, postcode, PCN, CCG or sub-ICB location, STP or
        ICB and region of each practice.
    postcodes
        A postcode lookup (see :func:`read_postcode_lookup`); default the shipped England
        lookup (:data:`POSTCODES_FILE`, OS Code-Point Open 2025.4); ``None`` uses none.
    ons_boundaries
        ONS CCG or sub-ICB boundaries (see :func:`boundaries_from_ons`); ``None`` skips them.
    fallback
        A practices file whose coordinates are used for a practice the lookup lacks, when
        it has the same code and postcode there; default the shipped file; ``None`` uses none.
    months_apart
        Files of different months (different extract dates): ``"raise"`` (default) stops
        with a :class:`DataError`; ``"allow"`` joins them, taking areas, PCNs, names and
        postcodes from the map file and patients from the registrations, leaving out (and
        listing) practices in one file only, and keeping the map file's area where the two
        differ. The practices file then has a ``list_size_date`` column.
    far_imputed
        A practice placed from its postcode neighbours more than :data:`MAX_IMPUTED_KM` km
        from its postcode district's centre (or whose district no lookup has): ``"raise"``
        (default) stops naming it; ``"keep"`` keeps it where its neighbours put it (listed,
        with the distance, in the report either way).
    code_field
        The boundaries' field holding the area code (see :func:`boundaries_from_ons`);
        ``None`` finds it by name or content.

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
        extract dates, files of different months (unless allowed), practices in one file
        only or in different areas (files of one month), patients that are not whole
        numbers, a practice placed far from its postcode district (unless kept), or
        practices outside England.
    ValueError
        If ``months_apart`` or ``far_imputed`` is not one of its options.

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
    >>> report.imputed_km
    {'N81119': 0.3}
    """
    _check_policy("months_apart", months_apart, ("raise", "allow"))
    _check_policy("far_imputed", far_imputed, ("raise", "keep"))
    joined, layout, date, list_size_date = _read_both(registrations, mapping, months_apart=months_apart)
    practices = joined.table
    closed = tuple(sorted(practices.index[practices["list_size"] == 0]))
    if closed:
        logger.warning(
            "%d practice(s) have 0 patients and are left out: %s", len(closed), _some(list(closed))
        )
    practices = practices[practices["list_size"] > 0].sort_index()
    shipped = None
    if postcodes is not None and Path(postcodes).resolve() == POSTCODES_FILE:
        shipped = SortedLookup.read(POSTCODES_FILE)  # read once: the points and the district centres
    if shipped is not None:
        lookup: pd.DataFrame | None = shipped.find(set(normalise(practices["postcode"])))
    else:
        lookup = (
            None if postcodes is None else read_postcode_lookup(postcodes, postcodes=practices["postcode"])
        )
    table = pd.concat([practices, _locate(practices, lookup, fallback)], axis=1)
    table = _impute(table.assign(data_date=date))
    km = _imputed_km(table, table.index[table["coord_source"] == IMPUTED], shipped)
    _check_imputed(table, km, far_imputed)
    table = _with_latlon(table)
    table.index.name = "practice_code"
    columns = [c.format(nest=layout.nest) for c in COLUMNS] + [c for c in ("supplier_name",) if c in table]
    if list_size_date != date:
        table["list_size_date"] = list_size_date
        columns.append("list_size_date")
    boundaries: gpd.GeoDataFrame | None = None
    found: dict[str, Any] = {"imputed_km": km, "closed": closed}
    if ons_boundaries is not None:
        boundaries, unmatched, missing, keyed = _read_boundaries(ons_boundaries, table, code_field)
        found.update(
            boundaries_without_practices=unmatched, areas_without_boundary=missing, boundary_codes=keyed
        )
    report = _report(table, joined, layout, (date, list_size_date), **found)
    return table.reset_index()[columns].astype(str), boundaries, report
