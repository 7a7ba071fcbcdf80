"""Build footprint's shipped LSOA polygons and patients-by-LSOA registrations, offline.

Run: .venv/bin/python scripts/build_lsoa.py [--shared ../shared/data] [--out data/lsoa]

Reads, under ``--shared`` (the project's shared data folder):

- ``boundaries/lsoa_2011/lsoa_by_lad/*.json``: England's 32,844 LSOA 2011 polygons (ONS BGC);
- ``boundaries/lsoa_2011_centroids/*.csv``: their population-weighted centroids (ONS);
- ``raw/nhs_gp_reg_pat_prac_lsoa_2022-07/gp-registrations_2022-07_lsoa11.csv.gz``: patients of
  every practice by LSOA, July 2022 (NHS Digital).

Writes ``lsoa_2011_england.npz`` and ``registrations_2022-07.csv.gz`` (see
``footprint/lsoas.py`` for both formats). The polygons are projected to British National
Grid, snapped to a 1 m grid, made an exact coverage with GEOS's coverage cleaning (the published
GeoJSON's shared edges differ by millimetres after projection) and simplified as a coverage
(``shapely.coverage_simplify``, tolerance 20 m), so neighbouring LSOAs still share their edges
exactly: no gap, no overlap. The same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from footprint.load import CRS  # noqa: E402
from footprint.lsoas import (  # noqa: E402 - the checkout's footprint, not an installed one
    lsoa_adjacency,
    registrations_from_nhs,
    write_lsoas,
    write_registrations,
)

SIMPLIFY_M = 20.0
GRID_M = 1.0


def _polygons(shared: Path) -> gpd.GeoDataFrame:
    files = sorted((shared / "boundaries" / "lsoa_2011" / "lsoa_by_lad").glob("*.json"))
    frames = [pyogrio.read_dataframe(f, columns=["LSOA11CD"]) for f in files]
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs)
    frame = frame.to_crs(CRS).sort_values("LSOA11CD").reset_index(drop=True)
    print(f"{len(files)} files, {len(frame):,} LSOAs read", file=sys.stderr)
    geoms = shapely.set_precision(frame.geometry.to_numpy(), GRID_M)
    geoms = shapely.coverage_clean(geoms)
    bad = int((~shapely.is_empty(shapely.coverage_invalid_edges(geoms))).sum())
    print(f"coverage cleaned ({bad} polygons with unmatched edges left)", file=sys.stderr)
    before = int(shapely.get_num_coordinates(geoms).sum())
    geoms = shapely.coverage_simplify(geoms, SIMPLIFY_M)
    geoms = shapely.transform(geoms, np.rint)  # whole metres, as stored
    invalid = ~shapely.is_valid(geoms)
    print(f"{int(invalid.sum())} polygons made valid after rounding", file=sys.stderr)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    after = int(shapely.get_num_coordinates(geoms).sum())
    print(f"simplified: {before:,} -> {after:,} vertices", file=sys.stderr)
    return gpd.GeoDataFrame({"lsoa_code": frame["LSOA11CD"].to_numpy()}, geometry=geoms, crs=CRS).set_index(
        "lsoa_code"
    )


def _centroids(shared: Path, codes: pd.Index) -> pd.DataFrame:
    path = next((shared / "boundaries" / "lsoa_2011_centroids").glob("*.csv"))
    table = pd.read_csv(path, encoding="utf-8-sig").set_index("lsoa11cd")
    points = gpd.GeoSeries.from_xy(table["X"], table["Y"], crs="EPSG:4326", index=table.index).to_crs(CRS)
    missing = codes.difference(points.index)
    if len(missing):
        sys.exit(f"{len(missing)} LSOAs have no centroid, e.g. {', '.join(missing[:5])}")
    points = points.loc[codes]
    return pd.DataFrame({"cx": points.x.round(), "cy": points.y.round()}, index=codes)


def main() -> int:
    """Build both files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "lsoa")
    parser.add_argument(
        "--test-slice",
        action="store_true",
        help="instead, cut the tests' slices (tests/data) from the files built in --out",
    )
    args = parser.parse_args()
    if args.test_slice:
        return _test_slice(args.shared, args.out)
    start = time.perf_counter()
    lsoas = _polygons(args.shared)
    lsoas = lsoas.join(_centroids(args.shared, lsoas.index))
    lsoas.attrs["adjacency"] = lsoa_adjacency(lsoas.geometry.to_numpy())
    print(f"{len(lsoas.attrs['adjacency']):,} pairs of neighbouring LSOAs", file=sys.stderr)
    polygons = write_lsoas(lsoas, args.out / "lsoa_2011_england.npz")
    raw = args.shared / "raw" / "nhs_gp_reg_pat_prac_lsoa_2022-07" / "gp-registrations_2022-07_lsoa11.csv.gz"
    table = registrations_from_nhs(raw)
    registrations = write_registrations(table, args.out / "registrations_2022-07.csv.gz")
    for path in (polygons, registrations):
        print(f"written {path} ({path.stat().st_size:,} bytes)", file=sys.stderr)
    print(
        f"{len(table):,} rows, {table['practice_code'].nunique():,} practices, {table['patients'].sum():,} "
        f"patients; {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    return 0


def _test_slice(shared: Path, built: Path) -> int:
    """Write the LSOAs and registrations of the tests' three CCGs (01F, 99F, 99G) into tests/data."""
    from footprint.areas import read_lsoas, read_registrations
    from footprint.load import read_boundaries

    tests = ROOT / "tests" / "data"
    practices = pd.read_csv(tests / "practices_slice.csv", dtype=str)
    lsoas = read_lsoas(built / "lsoa_2011_england.npz")
    # The LSOAs whose population-weighted centroid lies in the slice's CCG polygons.
    slice_area = shapely.union_all(read_boundaries(tests / "ccg_slice.geojson").geometry.to_numpy())
    keep = shapely.contains_xy(slice_area, lsoas["cx"].to_numpy(), lsoas["cy"].to_numpy())
    part = lsoas[keep].copy()
    part.attrs = {}
    write_lsoas(part, tests / "lsoa_slice.npz")
    table = read_registrations(built / "registrations_2022-07.csv.gz")
    table = table[table["practice_code"].isin(set(practices["practice_code"]))]
    write_registrations(table, tests / "lsoa_registrations_slice.csv.gz")
    folder = shared / "raw" / "nhs_gp_reg_pat_prac_lsoa_2022-07"
    raw = pd.read_csv(folder / "gp-registrations_2022-07_lsoa11.csv.gz", dtype=str)
    nhs = raw[raw["PRACTICE_CODE"].isin(["F81012", "F81046", "F81101"])]
    nhs.to_csv(tests / "gp-reg-pat-prac-lsoa-all_slice.csv", index=False, lineterminator="\n")
    for name in ("lsoa_slice.npz", "lsoa_registrations_slice.csv.gz", "gp-reg-pat-prac-lsoa-all_slice.csv"):
        print(f"written {tests / name} ({(tests / name).stat().st_size:,} bytes)", file=sys.stderr)
    print(f"{len(part)} LSOAs, {len(table):,} registration rows, {len(nhs)} NHS rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
