"""Load practices and CCG boundaries, and check them once at the boundary.

Everything downstream relies on what :func:`read_practices` guarantees: one row per
practice, indexed by ODS code, with a positive whole ``list_size``, a ``ccg_code`` and
a point in British National Grid (EPSG:27700, metres) inside England.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from footprint._io import cache_folder, file_key, pickled, read_text_csv
from footprint.errors import DataError

__all__ = [
    "BOUNDARIES_FILE",
    "CRS",
    "DATA_DIR",
    "DEFAULT_SNAPSHOT",
    "OUTLINE_FILE",
    "PRACTICES_FILE",
    "SNAPSHOTS",
    "Snapshot",
    "ccg_names",
    "icb_ccgs",
    "read_allow_cross",
    "read_boundaries",
    "read_outline",
    "read_practices",
    "read_vector",
    "select_ccgs",
    "validate_practices",
]

logger = logging.getLogger(__name__)

#: Folder of the data shipped with footprint (see data/ATTRIBUTION.md).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
#: All 6,527 practices in England on 1 January 2022 (NHS Digital, OS Code-Point Open).
PRACTICES_FILE = DATA_DIR / "practices_england.csv"
#: The 106 CCGs of April 2021 (ONS, generalised), which became the sub-ICB locations of 2022.
BOUNDARIES_FILE = DATA_DIR / "ccg_2021_en_bsc.geojson"
#: England's outline (ONS Countries December 2020, ultra-generalised).
OUTLINE_FILE = DATA_DIR / "england_outline_2020_buc.geojson"


@dataclass(frozen=True)
class Snapshot:
    """A shipped picture of England: its practices file and its CCG (sub-ICB) polygons."""

    practices: Path
    boundaries: Path
    #: What it holds, for ``--help`` and the docs.
    about: str


#: The shipped snapshots by name (``--data``); the first is the default.
SNAPSHOTS = {
    "2022-01": Snapshot(
        PRACTICES_FILE,
        BOUNDARIES_FILE,
        "PCNs and list sizes of 1 January 2022; the 106 CCGs of April 2021",
    ),
    "2025-10": Snapshot(
        DATA_DIR / "2025-10" / "practices.csv",
        DATA_DIR / "2025-10" / "sub_icb_2023.geojson",
        "PCNs of 1 October 2025, list sizes of 1 April 2025; the 106 sub-ICB locations of April 2023",
    ),
}
DEFAULT_SNAPSHOT = "2022-01"
#: Columns that name a practice's ICB (or, before July 2022, its STP), by code and ONS code.
ICB_COLUMNS = ("icb_code", "stp_code", "icb_ons_code", "stp_ons_code")

#: Coordinate reference system of every geometry footprint works in.
CRS = "EPSG:27700"
#: How far outside England's generalised outline a practice may sit.
MAX_OUTSIDE_ENGLAND_M = 5_000.0

REQUIRED = ("practice_code", "list_size", "ccg_code")
#: Largest list size a practices file may give: no English practice comes near it.
MAX_LIST_SIZE = 1_000_000
OPTIONAL = ("practice_name", "postcode", "pcn_code", "rural")
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"", "0", "false", "f", "no", "n"}
_SHOW = 10
#: Bump when the way boundaries are read changes, so cached boundaries are read again.
_BOUNDARIES_VERSION = 1

Impute = Literal["raise", "postcode"]


def _lines(frame: pd.DataFrame, mask: pd.Series | np.ndarray, detail: pd.Series | None = None) -> str:
    """Name the rows of ``frame`` under ``mask`` by practice code and file line."""
    rows = frame[np.asarray(mask, dtype=bool)]
    parts = []
    for _, row in rows.head(_SHOW).iterrows():
        code = row["practice_code"] or "(blank code)"
        extra = f": {detail.loc[row.name]}" if detail is not None else ""
        parts.append(f"{code} (line {row['line']}{extra})")
    more = f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else ""
    return ", ".join(parts) + more


def _fail(
    frame: pd.DataFrame,
    mask: pd.Series | np.ndarray,
    what: str,
    fix: str,
    *,
    detail: pd.Series | None = None,
    by_code: bool = False,
) -> None:
    """Raise a DataError naming the rows under ``mask`` (counting distinct codes with ``by_code``)."""
    rows = np.asarray(mask, dtype=bool)
    if rows.any():
        n = frame.loc[rows, "practice_code"].nunique() if by_code else int(rows.sum())
        msg = f"{n} practice(s) {what}: {_lines(frame, mask, detail)}; {fix}"
        raise DataError(msg)


def read_practices(
    path: str | os.PathLike[str] | None = None,
    *,
    impute: Impute | None = None,
    outline: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Read a practices CSV and return a checked GeoDataFrame in EPSG:27700.

    Parameters
    ----------
    path
        A CSV with one row per practice. ``None`` reads the shipped national file.
        Required columns: ``practice_code``, ``list_size``, ``ccg_code`` and either
        ``lat``/``lon`` (WGS84) or ``easting``/``northing`` (British National Grid).
        Optional: ``practice_name``, ``postcode``, ``pcn_code`` (the current network)
        and ``rural`` (true/false: may be approved below the band). Other columns are kept.
    impute
        What to do with a practice that has no coordinates: ``"raise"`` stops with a
        :class:`DataError`; ``"postcode"`` places it at the mean of the practices in the
        same postcode sector, else district, else PCN, else CCG, and flags it in the
        ``imputed`` column. Default: ``"postcode"`` for the shipped file (2 practices whose
        postcodes Code-Point Open lacks), ``"raise"`` for any other file.
    outline
        England's outline in EPSG:27700; default the shipped one.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``practice_code``; columns ``practice_name``, ``postcode``,
        ``list_size`` (int), ``ccg_code``, ``pcn_code``, ``rural`` (bool), ``imputed``
        (bool), ``line`` (line in the file), the extra columns, and point geometry.

    Raises
    ------
    DataError
        Naming the offending practices and lines, what is allowed and the fix.

    Examples
    --------
    >>> practices = read_practices()
    >>> len(practices), practices.crs.to_epsg()
    (6527, 27700)
    """
    shipped = path is None
    path = Path(PRACTICES_FILE if path is None else path)
    if impute is None:
        impute = "postcode" if shipped else "raise"
    frame = read_text_csv(
        path, what="practices file", expect="a CSV with a header line and one row per practice (see README)"
    )
    return validate_practices(frame, source=str(path), impute=impute, outline=outline)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column].str.replace(",", "", regex=False), errors="coerce")


def validate_practices(
    frame: pd.DataFrame,
    *,
    source: str = "practices table",
    impute: Impute = "raise",
    outline: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Check a raw practices table (all columns text) and return it as a GeoDataFrame.

    See :func:`read_practices` for the schema, parameters and result.
    """
    if impute not in ("raise", "postcode"):
        msg = f"impute={impute!r} is not an option: give 'raise' or 'postcode'"
        raise ValueError(msg)
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].astype(str).str.strip()
    if frame.empty:
        msg = f"{source} has a header but no practices: add one row per practice"
        raise DataError(msg)
    has_latlon = {"lat", "lon"} <= set(frame.columns)
    has_en = {"easting", "northing"} <= set(frame.columns)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if not (has_latlon or has_en):
        missing.append("lat and lon (or easting and northing)")
    if missing:
        msg = (
            f"{source} lacks required column(s) {', '.join(missing)}; columns found: "
            f"{', '.join(frame.columns)}; rename or add them (see README, 'Practices file')"
        )
        raise DataError(msg)
    frame["line"] = np.arange(len(frame)) + 2
    frame["practice_code"] = frame["practice_code"].str.upper()
    frame["ccg_code"] = frame["ccg_code"].str.upper()

    _fail(frame, frame["practice_code"] == "", "have a blank practice_code", "give each row its ODS code")
    dup = frame["practice_code"].duplicated(keep=False)
    _fail(frame, dup, "appear more than once", "keep one row per practice code", by_code=True)
    _fail(
        frame, frame["ccg_code"] == "", "have a blank ccg_code", "give each practice its CCG (sub-ICB) code"
    )

    size = _numeric(frame, "list_size")
    _fail(
        frame, frame["list_size"] == "", "have no list_size", "give the registered patients of each practice"
    )
    detail = "'" + frame["list_size"] + "'"
    _fail(
        frame,
        size.isna(),
        "have a list_size that is not a number",
        "write list_size as a whole number",
        detail=detail,
    )
    _fail(
        frame,
        size <= 0,
        "have a list_size of zero or less",
        "give the registered patients (a positive whole number), or leave closed practices out",
        detail=detail,
    )
    _fail(
        frame,
        size > MAX_LIST_SIZE,
        f"have a list_size over {MAX_LIST_SIZE:,} (England's largest practice has about 120,000)",
        "correct the figure: it is likely a typing slip or two numbers run together",
        detail=detail,
    )
    _fail(
        frame,
        size != size.round(),
        "have a fractional list_size",
        "list_size counts people: round it",
        detail=detail,
    )
    frame["list_size"] = size.astype(np.int64)

    x, y = _coordinates(frame, has_latlon=has_latlon, has_en=has_en)
    absent = x.isna() | y.isna()
    frame["imputed"] = False
    if absent.any():
        if impute == "raise":
            _fail(
                frame,
                absent,
                "have no coordinates",
                "add lat/lon or easting/northing, or pass impute='postcode' "
                "to place them from their postcode neighbours",
            )
        x, y = _impute(frame, x, y, absent)
        frame["imputed"] = absent.to_numpy()

    frame["rural"] = _flag(frame, "rural") if "rural" in frame.columns else False
    for column in ("practice_name", "postcode", "pcn_code"):
        if column not in frame.columns:
            frame[column] = ""
    practices = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=CRS).set_index("practice_code")
    _check_in_england(practices, outline)
    logger.info(
        "read %d practices in %d CCGs from %s", len(practices), practices["ccg_code"].nunique(), source
    )
    return practices


def _coordinates(frame: pd.DataFrame, *, has_latlon: bool, has_en: bool) -> tuple[pd.Series, pd.Series]:
    """Return easting and northing, from easting/northing where given, else lat/lon."""
    nan = pd.Series(np.nan, index=frame.index)
    x, y = nan.copy(), nan.copy()
    given = {"easting": has_en, "northing": has_en, "lat": has_latlon, "lon": has_latlon}
    for column in (c for c, present in given.items() if present):
        bad = (frame[column] != "") & _numeric(frame, column).isna()
        fix = "write degrees as decimals" if column in ("lat", "lon") else "write metres as plain numbers"
        _fail(frame, bad, f"have a {column} that is not a number", fix, detail="'" + frame[column] + "'")
    if has_en:
        x, y = _numeric(frame, "easting"), _numeric(frame, "northing")
    if has_latlon:
        lat, lon = _numeric(frame, "lat"), _numeric(frame, "lon")
        swapped = lat.between(-7, 2.5) & lon.between(49, 56)
        _fail(
            frame,
            swapped,
            "have latitude and longitude swapped",
            "England lies at latitude 49.8 to 55.9 and longitude -6.5 to 1.8: swap the two columns",
            detail="lat " + frame["lat"] + ", lon " + frame["lon"],
        )
        use = (x.isna() | y.isna()) & lat.notna() & lon.notna()
        if use.any():
            to_bng = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
            ex, ny = to_bng.transform(lon[use].to_numpy(), lat[use].to_numpy())
            x[use], y[use] = ex, ny
    return x, y


def _impute(
    frame: pd.DataFrame, x: pd.Series, y: pd.Series, absent: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Place practices without coordinates at the mean of their nearest peers by postcode."""
    x, y = x.copy(), y.copy()
    postcode = frame.get("postcode", pd.Series("", index=frame.index)).str.upper()
    sector = postcode.str[:-2].str.strip()
    district = postcode.str.split().str[0].fillna("")
    pcn = frame.get("pcn_code", pd.Series("", index=frame.index))
    located = ~absent
    for i in frame.index[absent]:
        in_ccg = located & (frame["ccg_code"] == frame.at[i, "ccg_code"])
        keys = {"postcode sector": sector, "postcode district": district, "PCN": pcn}
        label, peers = next(
            ((lb, in_ccg & (k == k[i])) for lb, k in keys.items() if k[i] and (in_ccg & (k == k[i])).any()),
            ("CCG", in_ccg),
        )
        if not peers.any():
            _fail(
                frame,
                frame.index == i,
                "have no coordinates and no located practice in their CCG",
                "add lat/lon or easting/northing for them",
            )
        x[i], y[i] = x[peers].mean(), y[peers].mean()
        logger.info(
            "%s %s (%s) has no coordinates: placed at the mean of %d practice(s) in its %s %s",
            frame.at[i, "practice_code"],
            frame.at[i, "practice_name"] if "practice_name" in frame else "",
            postcode[i],
            int(peers.sum()),
            label,
            keys[label][i] if label in keys else frame.at[i, "ccg_code"],
        )
    return x, y


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    text = frame[column].str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    _fail(
        frame,
        bad,
        f"have a {column} value that is not true/false",
        "write true or false (or leave blank)",
        detail="'" + frame[column] + "'",
    )
    return text.isin(_TRUE)


def _check_in_england(practices: gpd.GeoDataFrame, outline: shapely.Geometry | None) -> None:
    outline = read_outline() if outline is None else outline
    shapely.prepare(outline)
    xs, ys = practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()
    inside = shapely.contains_xy(outline, xs, ys)
    far = np.zeros(len(practices), dtype=bool)
    if not inside.all():
        distance = shapely.distance(outline, practices.geometry.to_numpy()[~inside])
        far[~inside] = distance > MAX_OUTSIDE_ENGLAND_M
        if far.any():
            km = pd.Series(np.round(distance / 1000, 1), index=practices.index[~inside])
            frame = practices.reset_index()
            detail = pd.Series(
                [f"{km.get(code, 0)} km outside" for code in frame["practice_code"]], index=frame.index
            )
            _fail(
                frame,
                far,
                f"lie more than {MAX_OUTSIDE_ENGLAND_M / 1000:g} km outside England",
                "check their coordinates (lat/lon in WGS84 degrees, easting/northing in metres "
                "of British National Grid)",
                detail=detail,
            )


def read_outline(path: str | os.PathLike[str] | None = None) -> shapely.Geometry:
    """Return England's outline as one geometry in EPSG:27700."""
    outline = gpd.read_file(OUTLINE_FILE if path is None else path).to_crs(CRS)
    return shapely.union_all(outline.geometry.make_valid().to_numpy())


def read_vector(path: Path, *, missing: str, unreadable: Callable[[Exception], str]) -> gpd.GeoDataFrame:
    """Return the vector file at ``path`` (any format geopandas reads), or stop in one line.

    ``missing`` is the message when the file does not exist; ``unreadable`` makes the message
    from the reader's exception when geopandas cannot read it. Both raise :class:`DataError`.
    """
    if not path.exists():
        raise DataError(missing)
    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise DataError(unreadable(exc)) from None


def read_boundaries(
    path: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read CCG (sub-ICB) polygons and return them indexed by ``ccg_code`` in EPSG:27700.

    Parameters
    ----------
    path
        Any file geopandas reads (GeoJSON, GeoPackage, shapefile) with a ``ccg_code``
        column holding the NHS three-character code (e.g. ``70F``); ``ccg_name`` is
        optional. ``None`` reads the shipped April 2021 CCGs (106).
    use_cache, cache_dir
        Keep the polygons read in the cache, keyed by the file's path, size and time (as
        :func:`footprint.graph.graph_from_practices` keeps graphs): England's take 0.03 s
        from there, 0.25 s from the file.

    Raises
    ------
    DataError
        If the file is missing, has no ``ccg_code`` column, or repeats a code.
    """
    path = Path(BOUNDARIES_FILE if path is None else path)
    if use_cache and path.is_file():
        key = file_key(path, f"boundaries-v{_BOUNDARIES_VERSION}")
        cached = cache_folder(cache_dir) / f"boundaries-{key}.pickle"
        read = partial(_read_boundaries, path)
        return pickled(cached, read, kind=gpd.GeoDataFrame, what="boundaries", log=logger)
    return _read_boundaries(path)


def _read_boundaries(path: Path) -> gpd.GeoDataFrame:
    frame = read_vector(
        path,
        missing=f"boundaries file {path} does not exist: give a GeoJSON/GeoPackage of CCG polygons",
        unreadable=lambda exc: (
            f"boundaries file {path} cannot be read as a vector file ({exc}); give GeoJSON or GeoPackage"
        ),
    )
    frame.columns = [c if c == "geometry" else str(c).strip().lower() for c in frame.columns]
    if "ccg_code" not in frame.columns:
        msg = (
            f"boundaries file {path} has no ccg_code column (found: "
            f"{', '.join(c for c in frame.columns if c != 'geometry')}); rename the column holding the "
            "NHS three-character CCG/sub-ICB code to ccg_code"
        )
        raise DataError(msg)
    if frame.crs is None:
        msg = f"boundaries file {path} has no coordinate reference system: save it with one (e.g. EPSG:4326)"
        raise DataError(msg)
    frame["ccg_code"] = frame["ccg_code"].astype(str).str.strip().str.upper()
    dup = frame["ccg_code"][frame["ccg_code"].duplicated()]
    if len(dup):
        codes = ", ".join(sorted(set(dup)))
        msg = f"boundaries file {path} repeats CCG code(s) {codes}: dissolve them to one row each"
        raise DataError(msg)
    if "ccg_name" not in frame.columns:
        frame["ccg_name"] = frame["ccg_code"]
    frame = frame[["ccg_code", "ccg_name", "geometry"]].to_crs(CRS)
    frame["geometry"] = frame.geometry.make_valid()
    return frame.set_index("ccg_code")


def ccg_names(practices: pd.DataFrame, boundaries: pd.DataFrame | None = None) -> dict[str, str]:
    """Return CCG code to name, from the practices file's ``ccg_name`` or else the boundaries."""
    names: dict[str, str] = {}
    if boundaries is not None:
        names.update(boundaries["ccg_name"].astype(str).to_dict())
    if "ccg_name" in practices.columns:
        names.update(practices.groupby("ccg_code")["ccg_name"].first().to_dict())
    return names


def select_ccgs(practices: gpd.GeoDataFrame, ccgs: Sequence[str] | None) -> gpd.GeoDataFrame:
    """Return the practices of the CCGs named (all when ``ccgs`` is empty or ``None``).

    Raises
    ------
    DataError
        If a CCG code names no practice.
    """
    if not ccgs:
        return practices
    wanted = [c.strip().upper() for c in ccgs]
    unknown = sorted(set(wanted) - set(practices["ccg_code"]))
    if unknown:
        some = ", ".join(sorted(practices["ccg_code"].unique())[:8])
        msg = f"no practice has CCG code(s) {', '.join(unknown)}; codes look like {some} ..."
        raise DataError(msg)
    return practices[practices["ccg_code"].isin(wanted)]


def icb_ccgs(practices: pd.DataFrame, icbs: Sequence[str]) -> list[str]:
    """Return the CCG (sub-ICB) codes of the ICBs named, by ICB code (QHM) or ONS code (E54...).

    On 2022 data the ICB is the practices file's STP (``stp_code``, ``stp_ons_code``).

    Raises
    ------
    DataError
        If the file names no ICB, or a code names none of its ICBs (the codes are listed).
    """
    columns = [c for c in ICB_COLUMNS if c in practices.columns]
    if not columns:
        msg = "the practices file has no icb_code or stp_code column: select areas with --ccg instead"
        raise DataError(msg)
    wanted = {c.strip().upper() for c in icbs}
    codes = practices[columns].astype(str).apply(lambda col: col.str.strip().str.upper())
    chosen = codes.isin(wanted).any(axis=1)
    unknown = sorted(wanted - set(codes.to_numpy().ravel()))
    if unknown:
        some = ", ".join(sorted(set(codes[columns[0]]))[:8])
        msg = f"no practice is in ICB {', '.join(unknown)}; ICB codes look like {some} ... (or E54 codes)"
        raise DataError(msg)
    return sorted(set(practices.loc[chosen, "ccg_code"]))


def _read_rows(path: str | os.PathLike[str], *, what: str, columns: tuple[str, str]) -> pd.DataFrame:
    """Read a small two-column rules CSV, stripped; refuse a missing column or an empty file."""
    frame = read_text_csv(path, what=what, expect=f"a CSV with columns {','.join(columns)}")
    if not set(columns) <= set(frame.columns):
        msg = f"{what} {path} needs columns {' and '.join(columns)} (found: {', '.join(frame.columns)})"
        raise DataError(msg)
    frame = frame[list(columns)].apply(lambda c: c.str.strip())
    if frame.empty:
        msg = f"{what} {path} has no rows: give at least one {','.join(columns)} row, or leave the option out"
        raise DataError(msg)
    frame["line"] = np.arange(len(frame)) + 2
    return frame


def read_allow_cross(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read the practices allowed to join a neighbouring CCG's network.

    The CSV has columns ``practice_code`` and ``ccg_code`` (the CCG whose network the
    practice may join), e.g. a practice whose branch surgery lies across the boundary.

    Raises
    ------
    DataError
        If the file is missing, lacks a column or repeats a practice.
    """
    frame = _read_rows(path, what="allow-cross file", columns=("practice_code", "ccg_code"))
    codes = frame["practice_code"].str.upper()
    dup = codes[codes.duplicated()]
    if len(dup):
        msg = f"allow-cross file {path} repeats practice(s) {', '.join(sorted(set(dup)))}: keep one row each"
        raise DataError(msg)
    return dict(zip(codes, frame["ccg_code"].str.upper(), strict=True))


def read_approved(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read the groups a commissioner approved as exceptions: PCN id to the reason.

    The CSV has columns ``pcn_id`` and ``reason``; such groups are exempt from the band.

    Raises
    ------
    DataError
        If the file is missing, lacks a column, repeats a PCN or gives no reason.
    """
    frame = _read_rows(path, what="approved file", columns=("pcn_id", "reason"))
    dup = frame["pcn_id"][frame["pcn_id"].duplicated()]
    if len(dup):
        msg = f"approved file {path} repeats PCN(s) {', '.join(sorted(set(dup)))}: keep one row each"
        raise DataError(msg)
    blank = frame[(frame["pcn_id"] == "") | (frame["reason"] == "")]
    if len(blank):
        lines = ", ".join(str(n) for n in blank["line"].head(10))
        msg = f"approved file {path} has a blank pcn_id or reason on line(s) {lines}: give both"
        raise DataError(msg)
    return dict(zip(frame["pcn_id"], frame["reason"], strict=True))


def read_pairs(path: str | os.PathLike[str], *, what: str) -> list[tuple[str, str]]:
    """Read pairs of practices (columns ``practice_a``, ``practice_b``), e.g. to keep apart or together.

    Raises
    ------
    DataError
        If the file is missing, lacks a column, or pairs a practice with itself.
    """
    frame = _read_rows(path, what=what, columns=("practice_a", "practice_b"))
    a, b = frame["practice_a"].str.upper(), frame["practice_b"].str.upper()
    same = frame[a == b]
    if len(same):
        lines = ", ".join(f"{c} (line {n})" for c, n in zip(same["practice_a"], same["line"], strict=True))
        msg = f"{what} {path} pairs a practice with itself: {lines}; name two practices per row"
        raise DataError(msg)
    return sorted({tuple(sorted(p)) for p in zip(a, b, strict=True)})  # type: ignore[misc]
