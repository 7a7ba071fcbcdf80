"""Postcode lookups: OS Code-Point Open (any release, packed or not) and the shipped England lookup.

:func:`read_postcode_lookup` returns each postcode's British National Grid point; the
shipped lookup (:data:`POSTCODES_FILE`) is read by binary search, so finding a month's
practice postcodes costs a fraction of a second.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd

from footprint.errors import DataError

__all__ = ["CODEPOINT_COLUMNS", "POSTCODES_FILE", "read_postcode_lookup"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The shipped postcode lookup: England's postcodes in OS Code-Point Open 2025.4 (see
#: ``footprint/data/PROVENANCE.md``; rebuilt by ``scripts/build_postcodes.py``).
POSTCODES_FILE = Path(__file__).resolve().parent / "data" / "codepoint_open_2025.4_england.csv.gz"

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


def normalise(postcodes: pd.Series) -> pd.Series:
    return postcodes.astype(str).str.upper().str.replace(r"\s+", "", regex=True)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def codepoint_label(version: str) -> str:
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
    table["source"] = table["version"].map(codepoint_label) if "version" in table else label
    return _keep_wanted(table, wanted)


def _headerless_table(
    fh: IO[bytes], headers: list[str], version: str, wanted: set[str] | None
) -> pd.DataFrame:
    table = pd.read_csv(fh, header=None, names=headers, usecols=range(4), dtype=str, keep_default_na=False)
    table.columns = ["postcode", "quality", "easting", "northing"]
    table["version"] = version
    table["source"] = codepoint_label(version)
    return _keep_wanted(table, wanted)


def _keep_wanted(table: pd.DataFrame, wanted: set[str] | None) -> pd.DataFrame:
    table["postcode"] = normalise(table["postcode"])
    return table if wanted is None else table[table["postcode"].isin(wanted)]


def _tables(path: Path, wanted: set[str] | None) -> Iterator[pd.DataFrame]:
    """Yield the postcode tables of a file (plain or gzip), folder or ZIP."""
    if path.is_file() and not zipfile.is_zipfile(path):
        with _open_bytes(path) as fh:
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


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_bytes(path: Path) -> IO[bytes]:
    """Open a file to read its bytes, decompressing it if it is gzip."""
    if _is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _pcd(key: str) -> str:
    """Return a postcode (no spaces, upper case) as 7 characters: outward code padded to 4, inward."""
    return key[:-3].ljust(4) + key[-3:] if 5 <= len(key) <= 7 else ""


class SortedLookup:
    """A postcode lookup as ``scripts/build_postcodes.py`` writes it (the shipped England one).

    A gzip CSV with header ``pcd,easting,northing,pq`` and fixed-width rows of 25 bytes
    sorted by ``pcd`` (the 7-character postcode), so a postcode or a whole district is found
    by binary search and only the rows found are parsed.
    """

    HEADER = b"pcd,easting,northing,pq\n"
    ROW = np.dtype(
        [
            ("pcd", "S7"), ("_a", "S1"), ("easting", "S6"), ("_b", "S1"),
            ("northing", "S6"), ("_c", "S1"), ("pq", "S2"), ("end", "S1"),
        ]
    )  # fmt: skip

    def __init__(self, path: Path, rows: np.ndarray) -> None:
        self.path = path
        self.rows = rows
        found = re.search(r"codepoint_open_(\d+(?:\.\d+)*)", path.name, re.I)
        self.source = codepoint_label(found.group(1)) if found else path.name

    @classmethod
    def read(cls, path: PathLike) -> SortedLookup | None:
        """Return the lookup at ``path``, or ``None`` if it is not in this layout."""
        path = Path(path)
        if not path.is_file():
            msg = f"postcode lookup {path} does not exist: reinstall footprint or give a postcode lookup"
            raise DataError(msg)
        if not _is_gzip(path):
            return None
        with gzip.open(path, "rb") as fh:
            if fh.read(len(cls.HEADER)) != cls.HEADER:
                return None
        raw = gzip.decompress(path.read_bytes())
        count, rest = divmod(len(raw) - len(cls.HEADER), cls.ROW.itemsize)
        rows = np.frombuffer(raw, dtype=cls.ROW, count=count, offset=len(cls.HEADER))
        if rest or not (rows["end"] == b"\n").all():
            msg = (
                f"postcode lookup {path} has rows of uneven width: rebuild it with scripts/build_postcodes.py"
            )
            raise DataError(msg)
        return cls(path, rows)

    def _table(self, index: Iterable[str], rows: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "easting": rows["easting"].astype(np.int64).astype(float),
                "northing": rows["northing"].astype(np.int64).astype(float),
                "source": self.source,
                "quality": rows["pq"].astype(str),
            },
            index=pd.Index(list(index), name="postcode"),
        )

    def find(self, postcodes: Iterable[str] | None = None) -> pd.DataFrame:
        """Return the postcodes found (all when ``None``) as :func:`read_postcode_lookup` does."""
        if postcodes is None:
            keys = [k.replace(" ", "") for k in self.rows["pcd"].astype(str)]
            return self._table(keys, self.rows)
        keys = sorted({k for k in postcodes if _pcd(k)})
        pcd = np.array([_pcd(k) for k in keys], dtype="S7")
        at = np.minimum(np.searchsorted(self.rows["pcd"], pcd), len(self.rows) - 1)
        hit = self.rows["pcd"][at] == pcd
        return self._table(np.array(keys, dtype=object)[hit], self.rows[at[hit]])

    def centres(self, districts: Iterable[str]) -> dict[str, tuple[float, float]]:
        """Return the mean point of each postcode district (outward code) that has postcodes."""
        out = {}
        for district in set(districts):
            if not 2 <= len(district) <= 4:
                continue
            low, high = np.searchsorted(
                self.rows["pcd"], [district.ljust(4).encode(), f"{district:<4}~".encode()]
            )
            if high > low:
                rows = self.rows[low:high]
                out[district] = (
                    float(rows["easting"].astype(np.int64).mean()),
                    float(rows["northing"].astype(np.int64).mean()),
                )
        return out


def read_postcode_lookup(path: PathLike, *, postcodes: pd.Series | None = None) -> pd.DataFrame:
    """Read a postcode lookup and return one point per postcode in British National Grid.

    Parameters
    ----------
    path
        One of: the shipped England lookup (:data:`POSTCODES_FILE`, as
        ``scripts/build_postcodes.py`` writes it); OS Code-Point Open as published (a folder
        or ZIP holding headerless CSVs, read with its ``Code-Point_Open_Column_Headers.csv``
        and version from its ``metadata.txt``); a CSV, plain or gzip, whose header names
        ``postcode``, ``eastings`` and ``northings`` (optionally ``codepoint_version``,
        ``positional_quality_indicator``); or the ONS Postcode Directory CSV (``pcds``,
        ``oseast1m``, ``osnrth1m``).
    postcodes
        Keep only these postcodes (any spacing or case); default all.

    Returns
    -------
    pandas.DataFrame
        Indexed by postcode without spaces, upper case; columns ``easting``, ``northing``
        (float metres), ``source`` (e.g. ``"OS Code-Point Open 2025.4"``) and ``quality``
        (Code-Point positional quality, else blank). Where a postcode appears in several
        vintages the newest is kept. Postcodes without coordinates (Code-Point's positional
        quality 90, written as 0, 0) are left out.

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
    >>> shipped = read_postcode_lookup(POSTCODES_FILE, postcodes=pd.Series(["ss8 9su"]))
    >>> float(shipped.loc["SS89SU", "easting"]), shipped.loc["SS89SU", "source"]
    (578160.0, 'OS Code-Point Open 2025.4')
    """
    path = Path(path)
    if not path.exists():
        msg = f"postcode lookup {path} does not exist: give OS Code-Point Open (folder or ZIP) or a CSV"
        raise DataError(msg)
    wanted = None if postcodes is None else set(normalise(postcodes))
    shipped = SortedLookup.read(path) if path.is_file() else None
    if shipped is not None:
        table = shipped.find(wanted)
        logger.info("read %d postcodes from %s", len(table), path)
        return table
    tables = [t for t in _tables(path, wanted) if len(t)]
    columns = ["postcode", "easting", "northing", "source", "quality", "version"]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    for column in ("quality", "version"):
        if column not in table:
            table[column] = ""
    for column in ("easting", "northing"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    table = table.dropna(subset=["easting", "northing"])
    table = table[(table["easting"] != 0) | (table["northing"] != 0)]  # Code-Point's "no coordinates"
    key = table["version"].map(version_key)
    table = table.assign(_key=key).sort_values("_key", ascending=False, kind="stable")
    table = table.drop_duplicates("postcode").set_index("postcode")
    logger.info("read %d postcodes from %s", len(table), path)
    return table[["easting", "northing", "source", "quality"]]
