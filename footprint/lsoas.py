"""The two inputs of network areas: LSOA polygons and practices' patients by LSOA.

LSOA polygons ship as one compressed NumPy archive (``.npz``) built by
``scripts/build_lsoa.py``: codes, population-weighted centroids and the polygons as
shapely's ragged arrays (whole metres, EPSG:27700, each vertex stored as the step from
the one before, which compresses well), plus the pairs of LSOAs that share a border. Any
file geopandas reads (GeoJSON, GeoPackage, shapefile) with a code column serves too.

Registrations ship as a gzip CSV with header ``practice_code,lsoa_code,patients``: the
compact form of NHS Digital's ``gp-reg-pat-prac-lsoa-all.csv``, which
:func:`registrations_from_nhs` converts from any month's file (or its ZIP).
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
import os
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprint._io import atomic_write
from footprint.errors import DataError
from footprint.load import CRS, DATA_DIR, read_vector

logger = logging.getLogger(__name__)

#: England's 32,844 LSOAs of 2011, simplified (see data/lsoa/PROVENANCE.md).
LSOA_FILE = DATA_DIR / "lsoa" / "lsoa_2011_england.npz"
#: Patients of every practice by LSOA of residence, 1 July 2022 (NHS Digital), and its month.
REGISTRATIONS_FILE = DATA_DIR / "lsoa" / "registrations_2022-07.csv.gz"
REGISTRATIONS_MONTH = "2022-07"
#: Columns of the compact registrations, in order.
REGISTRATION_COLUMNS = ("practice_code", "lsoa_code", "patients")
#: Column names NHS Digital (and re-publishers) give the three fields, lower case.
_ALIASES = {
    "practice_code": ("practice_code", "org_code", "organisationcode", "organisation_code"),
    "lsoa_code": ("lsoa_code", "lsoa11cd", "lsoa21cd", "lsoa_code_2011", "lsoa_code_2021"),
    "patients": ("number_of_patients", "patients", "number"),
}
#: Names of LSOA code columns in a boundaries file, tried in order (else the first text column).
_CODE_FIELDS = ("lsoa_code", "lsoa11cd", "lsoa21cd", "code")
_LSOA_CODE = re.compile(r"^[EW]01\d{6}$")


def read_lsoas(
    path: str | os.PathLike[str] | None = None, *, code_field: str | None = None
) -> gpd.GeoDataFrame:
    """Read LSOA polygons: the shipped archive, or any boundaries file geopandas reads.

    Parameters
    ----------
    path
        ``None`` reads the shipped England LSOAs of 2011. An ``.npz`` is read as built by
        ``scripts/build_lsoa.py``; any other file with geopandas (GeoJSON, GeoPackage, ...).
    code_field
        The column holding LSOA codes in another file (default: ``LSOA11CD``, ``LSOA21CD``
        or ``code``, whichever is present, any case).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by LSOA code (``lsoa_code``), EPSG:27700; columns ``cx``, ``cy`` (the
        population-weighted centroid when the file has one, else a point inside the polygon)
        and the polygon as geometry. ``attrs["adjacency"]`` holds the pairs of row
        positions sharing a border (an ``(n, 2)`` array) and ``attrs["edge"]`` which LSOAs
        have border shared with none (:func:`lsoa_edges`): stored in the ``.npz``, computed
        for other files.

    Raises
    ------
    DataError
        If the file is missing, unreadable or names no LSOA codes.
    """
    path = LSOA_FILE if path is None else Path(path)
    missing = f"LSOA boundaries {path} do not exist: give the path of an LSOA polygon file"
    if not path.exists():
        raise DataError(missing)
    if path.suffix == ".npz":
        stat = path.stat()
        # Read once per process and file version (a session or the sweep reads it per command);
        # each caller gets its own copy.
        return _read_npz_once(str(path.resolve()), stat.st_size, stat.st_mtime_ns).copy()
    frame = read_vector(
        path,
        missing=missing,
        unreadable=lambda exc: (
            f"LSOA boundaries {path} could not be read ({exc}): give GeoJSON, GeoPackage or a shapefile"
        ),
    )
    lower = {str(c).lower(): c for c in frame.columns}
    field = code_field or next((lower[f] for f in _CODE_FIELDS if f in lower), None)
    if field is None or field not in frame.columns:
        msg = (
            f"LSOA boundaries {path} have no code column (looked for "
            f"{code_field or ', '.join(_CODE_FIELDS)}; columns: {', '.join(map(str, frame.columns))}): "
            "name the column holding LSOA codes"
        )
        raise DataError(msg)
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    frame = frame.to_crs(CRS)
    geoms = shapely.make_valid(frame.geometry.to_numpy())
    inside = shapely.point_on_surface(geoms)
    out = gpd.GeoDataFrame(
        {"cx": shapely.get_x(inside), "cy": shapely.get_y(inside)},
        geometry=geoms,
        index=pd.Index(frame[field].astype(str).str.strip().to_numpy(), name="lsoa_code"),
        crs=CRS,
    )
    out = out[~out.index.duplicated()]
    out.attrs["adjacency"] = lsoa_adjacency(out.geometry.to_numpy())
    out.attrs["edge"] = lsoa_edges(out.geometry.to_numpy(), out.attrs["adjacency"])
    return out


@functools.lru_cache(maxsize=2)
def _read_npz_once(path: str, size: int, mtime_ns: int) -> gpd.GeoDataFrame:
    """Return :func:`_read_npz` of ``path`` at this size and time, with its digest."""
    out = _read_npz(Path(path))
    out.attrs["digest"] = f"{path}|{size}|{mtime_ns}"
    return out


def _read_npz(path: Path) -> gpd.GeoDataFrame:
    try:
        with np.load(path, allow_pickle=False) as archive:
            parts = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        msg = (
            f"LSOA boundaries {path} are not a readable .npz ({exc}): rebuild them with scripts/build_lsoa.py"
        )
        raise DataError(msg) from None
    coords = np.cumsum(np.stack([parts["dx"], parts["dy"]], axis=1).astype(np.float64), axis=0)
    offsets = tuple(np.concatenate([[0], np.cumsum(parts[f"o{i}"])]) for i in range(3))
    geoms = shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON, coords, offsets)
    out = gpd.GeoDataFrame(
        {"cx": parts["cx"].astype(np.float64), "cy": parts["cy"].astype(np.float64)},
        geometry=geoms,
        index=pd.Index(parts["codes"].astype(str), name="lsoa_code"),
        crs=CRS,
    )
    out.attrs["adjacency"] = np.stack([parts["adj_a"], parts["adj_b"]], axis=1).astype(np.int64)
    out.attrs["edge"] = parts["edge"].astype(bool)
    return out


def write_lsoas(lsoas: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write LSOAs (as :func:`read_lsoas` returns them) to the compact ``.npz`` form.

    Coordinates are rounded to whole metres; ``attrs["adjacency"]`` is computed if absent.
    """
    geoms = np.array([_as_multipolygon(g) for g in lsoas.geometry.to_numpy()], dtype=object)
    _, coords, offsets = shapely.to_ragged_array(geoms)
    xy = np.rint(coords).astype(np.int64)
    steps = np.diff(xy, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).astype(np.int32)
    adjacency = lsoas.attrs.get("adjacency")
    if adjacency is None:
        adjacency = lsoa_adjacency(geoms)
    edge = lsoas.attrs.get("edge")
    if edge is None:
        edge = lsoa_edges(geoms, adjacency)
    path = Path(path)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        codes=lsoas.index.to_numpy().astype("U"),
        cx=np.rint(lsoas["cx"].to_numpy()).astype(np.int32),
        cy=np.rint(lsoas["cy"].to_numpy()).astype(np.int32),
        dx=steps[:, 0].copy(),
        dy=steps[:, 1].copy(),
        **{f"o{i}": np.diff(o).astype(np.int32) for i, o in enumerate(offsets)},
        adj_a=adjacency[:, 0].astype(np.int32),
        adj_b=adjacency[:, 1].astype(np.int32),
        edge=np.asarray(edge, dtype=bool),
    )
    with atomic_write(path, mode="wb") as fh:
        fh.write(buffer.getvalue())
    return path


def _as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    polygons = [p for p in shapely.get_parts(geom) if isinstance(p, shapely.Polygon) and not p.is_empty]
    return shapely.MultiPolygon(polygons)


def lsoa_edges(geoms: np.ndarray, adjacency: np.ndarray, *, tolerance_m: float = 1.0) -> np.ndarray:
    """Return which polygons have border shared with none of the others (coast, a country's edge).

    A polygon is on the edge when its perimeter exceeds the borders it shares with its
    neighbours (``adjacency``, as :func:`lsoa_adjacency` returns) by more than ``tolerance_m``.

    Examples
    --------
    >>> boxes = np.array([shapely.box(0, 0, 3, 3), shapely.box(1, 1, 2, 2)])
    >>> ring = np.array([shapely.box(0, 0, 3, 3).difference(boxes[1]), boxes[1]])
    >>> lsoa_edges(ring, lsoa_adjacency(ring)).tolist()
    [True, False]
    """
    geoms = np.asarray(geoms, dtype=object)
    a, b = adjacency[:, 0], adjacency[:, 1]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b])))
    total = np.bincount(a, weights=shared, minlength=len(geoms)) + np.bincount(
        b, weights=shared, minlength=len(geoms)
    )
    return shapely.length(geoms) - total > tolerance_m


def lsoa_adjacency(geoms: np.ndarray) -> np.ndarray:
    """Return the pairs ``(i, j)``, ``i < j``, of polygons sharing a border (not just a corner).

    Examples
    --------
    >>> boxes = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 1, 3, 2)])
    >>> lsoa_adjacency(boxes).tolist()
    [[0, 1]]
    """
    geoms = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # Rule: neighbours share a line: their boundaries meet in one dimension (rook, not queen).
    shared = shapely.relate_pattern(geoms[left], geoms[right], "****1****")
    pairs = np.stack([left[shared], right[shared]], axis=1).astype(np.int64)
    return pairs.reshape(-1, 2)


def read_registrations(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read the compact registrations: patients of each practice by LSOA of residence.

    Parameters
    ----------
    path
        A CSV (optionally gzipped) with columns ``practice_code``, ``lsoa_code``,
        ``patients``, as :func:`write_registrations` writes it. ``None`` reads the shipped
        file (1 July 2022).

    Returns
    -------
    pandas.DataFrame
        The three columns; codes as categorical text, ``patients`` a positive integer. Rows with codes
        that are not English LSOAs (Welsh ``W01...``, ``NO2011``) are kept: the areas report them.

    Raises
    ------
    DataError
        If the file is missing, lacks a column or holds a count that is not a whole number.
    """
    path = REGISTRATIONS_FILE if path is None else Path(path)
    try:
        frame = pd.read_csv(path, dtype={"practice_code": str, "lsoa_code": str}, keep_default_na=False)
    except FileNotFoundError:
        msg = f"registrations {path} do not exist: give the path of a patients-by-LSOA file"
        raise DataError(msg) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        msg = f"registrations {path} could not be read ({exc}): give a practice_code,lsoa_code,patients CSV"
        raise DataError(msg) from None
    missing = [c for c in REGISTRATION_COLUMNS if c not in frame.columns]
    if missing:
        msg = (
            f"registrations {path} lack column(s) {', '.join(missing)} "
            f"(have {', '.join(map(str, frame.columns))}): convert NHS Digital's "
            "gp-reg-pat-prac-lsoa-all.csv to the compact form first"
        )
        raise DataError(msg)
    patients = pd.to_numeric(frame["patients"], errors="coerce")
    bad = patients.isna() | (patients < 0) | (patients != patients.round())
    if bad.any():
        first = frame.loc[bad].iloc[0]
        msg = (
            f"registrations {path}: {int(bad.sum())} row(s) with a patient count that is not a whole "
            f"number (first: {first['practice_code']}, {first['lsoa_code']}, {first['patients']!r}): "
            "fix or drop them"
        )
        raise DataError(msg)
    out = pd.DataFrame(
        {
            "practice_code": frame["practice_code"].str.strip().str.upper(),
            "lsoa_code": frame["lsoa_code"].str.strip().str.upper(),
            "patients": patients.astype(np.int64),
        }
    )
    out = out[out["patients"] > 0].reset_index(drop=True)
    return out.astype({"practice_code": "category", "lsoa_code": "category"})


def registrations_from_nhs(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Convert NHS Digital's patients-by-LSOA file of any month to the compact form.

    Parameters
    ----------
    path
        ``gp-reg-pat-prac-lsoa-all.csv`` (columns ``PRACTICE_CODE``, ``LSOA_CODE``,
        ``NUMBER_OF_PATIENTS``; a ``SEX`` column keeps its ``ALL`` rows), or the ZIP NHS
        Digital publishes (``gp-reg-pat-prac-lsoa-male-female-<month>.zip``), whose
        ``...-all.csv`` is read.

    Returns
    -------
    pandas.DataFrame
        ``practice_code``, ``lsoa_code``, ``patients``, summed per practice and LSOA and
        sorted; ``attrs["extract_date"]`` holds the file's ``EXTRACT_DATE`` when it has one.

    Raises
    ------
    DataError
        If the file is missing, or has no practice, LSOA or patient column.
    """
    path = Path(path)
    if not path.exists():
        msg = f"LSOA registrations {path} do not exist: give gp-reg-pat-prac-lsoa-all.csv or its ZIP"
        raise DataError(msg)
    frame = _read_nhs_table(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    found = {}
    for name, aliases in _ALIASES.items():
        column = next((a for a in aliases if a in frame.columns), None)
        if column is None:
            msg = (
                f"{path} has no {name} column (looked for {', '.join(aliases)}; columns: "
                f"{', '.join(frame.columns)}): give NHS Digital's gp-reg-pat-prac-lsoa-all.csv"
            )
            raise DataError(msg)
        found[name] = column
    if "sex" in frame.columns:
        frame = frame[frame["sex"].str.strip().str.upper().isin(["ALL", "PERSONS"])]
    compact = pd.DataFrame(
        {
            "practice_code": frame[found["practice_code"]].str.strip().str.upper(),
            "lsoa_code": frame[found["lsoa_code"]].str.strip().str.upper(),
            "patients": pd.to_numeric(frame[found["patients"]], errors="coerce"),
        }
    )
    bad = compact["patients"].isna()
    if bad.any():
        logger.warning("%s: %d row(s) with no patient count left out", path, int(bad.sum()))
    compact = compact[~bad].astype({"patients": np.int64})
    compact = compact.groupby(["practice_code", "lsoa_code"], as_index=False, sort=True)["patients"].sum()
    compact = compact[compact["patients"] > 0].reset_index(drop=True)
    if "extract_date" in frame.columns and len(frame):
        compact.attrs["extract_date"] = str(frame["extract_date"].iloc[0]).strip()
    return compact


def _read_nhs_table(path: Path) -> pd.DataFrame:
    """Read the CSV, or the ``...lsoa-all.csv`` member of a ZIP, as text."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            chosen = [n for n in names if "all" in Path(n).name.lower()] or names
            if not chosen:
                msg = f"{path} holds no CSV: give NHS Digital's gp-reg-pat-prac-lsoa ZIP or its -all.csv"
                raise DataError(msg)
            with archive.open(chosen[0]) as fh:
                return pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        msg = f"{path} could not be read as CSV ({exc}): give NHS Digital's gp-reg-pat-prac-lsoa-all.csv"
        raise DataError(msg) from None


def write_registrations(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write registrations in the compact form (gzip when ``path`` ends ``.gz``; same input, same bytes)."""
    path = Path(path)
    text = frame.loc[:, list(REGISTRATION_COLUMNS)].to_csv(index=False, lineterminator="\n").encode()
    with atomic_write(path, mode="wb") as fh:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
                gz.write(text)
        else:
            fh.write(text)
    return path


def is_lsoa_code(code: str) -> bool:
    """Return whether ``code`` looks like an English or Welsh LSOA code (``E01``/``W01`` and six digits)."""
    return bool(_LSOA_CODE.match(code))
