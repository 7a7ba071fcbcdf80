"""Build footprint's shipped England postcode lookup from OS Code-Point Open, offline.

Run: .venv/bin/python scripts/build_postcodes.py CODEPOINT [--out FILE]

CODEPOINT is Code-Point Open as OS publishes it: its ZIP, a ``.tar.gz`` of its ``codepo_gb/``
folder, the unpacked folder, or a folder holding one of those (e.g.
``../shared/data/raw/os_codepoint_open_2025.4``). The version comes from ``Doc/metadata.txt``.

It keeps England's postcodes (country code ``E92000001``) that have coordinates (positional
quality 90 means none: they sit at 0,0) and writes ``footprint/data/codepoint_open_<version>_england.csv.gz``:
a gzip CSV with header ``pcd,easting,northing,pq`` and one fixed-width row of 25 bytes per
postcode, sorted by postcode:

    B1  1AY,406523,286448,10

``pcd`` is the 7-character unit postcode (outward code padded to 4, then the inward code, as
the ONS Postcode Directory writes it), ``easting`` and ``northing`` are British National Grid
metres zero-padded to 6 digits, ``pq`` is Code-Point's positional quality (10, 30, 50 or 60).
Fixed width and sorted order let footprint find a postcode, or every postcode of a district,
by binary search without parsing the rest; any CSV reader reads it too. The gzip header
carries no time or name, so the same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ENGLAND = "E92000001"
NO_COORDINATES = 90
HEADER = "pcd,easting,northing,pq\n"
WIDTH = 25  # bytes per row: 7 + 1 + 6 + 1 + 6 + 1 + 2 + newline
COLUMNS = ["postcode", "pq", "easting", "northing", "country"]


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of every file in a Code-Point ZIP, tar.gz or folder."""
    if path.is_dir():
        inner = sorted([*path.glob("*.zip"), *path.glob("*.tar.gz"), *path.glob("*.tgz")])
        if inner and not any(path.rglob("*.csv")):
            if len(inner) > 1:
                sys.exit(f"{path} holds {len(inner)} archives: give one of them")
            yield from _members(inner[0])
            return
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            yield str(file.relative_to(path)), file.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if not name.endswith("/"):
                    yield name, archive.read(name)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            for member in sorted(archive.getmembers(), key=lambda m: m.name):
                if member.isfile():
                    fh = archive.extractfile(member)
                    if fh is not None:
                        yield member.name, fh.read()
    else:
        sys.exit(f"{path} is not Code-Point Open (a ZIP, tar.gz or folder)")


def read_codepoint(path: Path) -> tuple[pd.DataFrame, str]:
    """Return every Code-Point row (postcode, pq, easting, northing, country) and the version."""
    frames, version = [], ""
    for name, data in _members(path):
        low = name.lower().replace("\\", "/")
        if low.endswith("metadata.txt"):
            found = re.search(r"DATASET VERSION NUMBER:\s*([\d.]+)", data.decode("utf-8", "replace"))
            version = found.group(1) if found else version
        elif "data/csv/" in low and low.endswith(".csv"):
            frames.append(
                pd.read_csv(
                    io.BytesIO(data),
                    header=None,
                    usecols=range(5),
                    names=COLUMNS,
                    dtype={"postcode": str, "country": str},
                    keep_default_na=False,
                )
            )
    if not frames or not version:
        sys.exit(f"{path} has no Data/CSV/*.csv or no Doc/metadata.txt version: give Code-Point Open")
    return pd.concat(frames, ignore_index=True), version


def england_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Keep England's located postcodes, as 7-character ``pcd``, sorted; check widths."""
    keep = (table["country"] == ENGLAND) & (table["pq"] != NO_COORDINATES)
    rows = table[keep].copy()
    text = rows["postcode"].str.upper().str.replace(r"\s+", "", regex=True)
    odd = ~text.str.fullmatch(r"[A-Z0-9]{2,4}[0-9][A-Z]{2}")
    if odd.any():
        sys.exit(f"postcodes not of the form outward code + inward code: {list(text[odd][:5])}")
    rows["pcd"] = text.str[:-3].str.ljust(4) + text.str[-3:]
    for column in ("easting", "northing"):
        if not rows[column].between(1, 999_999).all():
            sys.exit(f"an English {column} does not fit 6 digits")
    if rows["pcd"].duplicated().any():
        sys.exit(f"repeated postcodes: {list(rows['pcd'][rows['pcd'].duplicated()][:5])}")
    return rows.sort_values("pcd", kind="stable").reset_index(drop=True)


def write_lookup(rows: pd.DataFrame, out: Path) -> None:
    """Write the fixed-width gzip CSV, byte for byte the same for the same rows."""
    body = "".join(
        f"{p},{e:06d},{n:06d},{q:02d}\n"
        for p, e, n, q in zip(rows["pcd"], rows["easting"], rows["northing"], rows["pq"], strict=True)
    )
    assert len(body) == WIDTH * len(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as raw, gzip.GzipFile("", "wb", compresslevel=9, fileobj=raw, mtime=0) as fh:
        fh.write((HEADER + body).encode("ascii"))
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    """Build the lookup from the Code-Point Open given and print what was kept and left out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("codepoint", type=Path, help="Code-Point Open: ZIP, tar.gz or folder")
    parser.add_argument(
        "--out", type=Path, help="default: footprint/data/codepoint_open_<version>_england.csv.gz"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    table, version = read_codepoint(args.codepoint)
    short = ".".join(version.split(".")[:2])
    out = args.out or ROOT / "footprint" / "data" / f"codepoint_open_{short}_england.csv.gz"
    rows = england_rows(table)
    write_lookup(rows, out)
    english = table["country"] == ENGLAND
    print(f"Code-Point Open {version}: {len(table):,} postcodes, {int(english.sum()):,} in England")
    no_point = int((english & (table["pq"] == NO_COORDINATES)).sum())
    print(f"left out: {int((~english).sum()):,} outside England, {no_point:,} English without coordinates")
    quality = {int(k): int(v) for k, v in rows["pq"].value_counts().sort_index().items()}
    print(f"kept {len(rows):,}; by positional quality {quality}")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f} s")
    print(
        f"eastings {int(np.min(rows['easting']))}-{int(np.max(rows['easting']))}, "
        f"northings {int(np.min(rows['northing']))}-{int(np.max(rows['northing']))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
