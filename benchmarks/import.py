"""Benchmark: ``footprint import`` of all England (January 2022), against a plain pandas join.

Run: .venv/bin/python benchmarks/import.py [RAW_FOLDER]   (default ../shared/data/raw)

Times :func:`footprint.sources.import_practices` on the raw 2022-01 NHS Digital files with
the Code-Point extract and ONS boundaries (target <= 10 s), then with a Code-Point Open
folder of national size (1.75 million postcodes in 120 headerless CSVs, the extract's
rows plus made-up filler postcodes), and a plain pandas read-and-merge of the same three
CSVs (no checks, no imputation, no boundaries) as the peer. Then the files as a user holds
them: April 2025's list sizes (the ZIP as published) with October 2025's map file and the
2023 sub-ICB boundaries (properties renamed ``code``/``name``), with the shipped England
postcode lookup, whose size and load time are printed too, and its figures checked.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from footprint.sources import IMPUTED, POSTCODES_FILE, import_practices, read_postcode_lookup

ROOT = Path(__file__).resolve().parents[1]
NATIONAL_ROWS = 1_750_000


def national_codepoint(extract: Path, folder: Path) -> Path:
    """Write a Code-Point Open folder as published: the extract's 2025 rows plus filler, 120 files."""
    rows = pd.read_csv(extract, dtype=str, keep_default_na=False)
    rows = rows[rows["codepoint_version"] == "2025.4.0"].drop(columns="codepoint_version")
    rng = np.random.default_rng(0)
    n = NATIONAL_ROWS - len(rows)
    filler = pd.DataFrame({c: rows[c].iloc[0] for c in rows.columns}, index=range(n))
    filler["Postcode"] = [f"ZZ{i // 10_000} {i % 10_000:04d}" for i in range(n)]
    filler["Eastings"] = rng.integers(100_000, 600_000, n).astype(str)
    filler["Northings"] = rng.integers(10_000, 900_000, n).astype(str)
    table = pd.concat([rows, filler], ignore_index=True)
    (folder / "Data" / "CSV").mkdir(parents=True)
    (folder / "Doc").mkdir()
    step = -(-len(table) // 120)
    for i, start in enumerate(range(0, len(table), step)):
        table.iloc[start : start + step].to_csv(
            folder / "Data" / "CSV" / f"p{i:03d}.csv", index=False, header=False
        )
    (folder / "Doc" / "Code-Point_Open_Column_Headers.csv").write_bytes(
        (extract.parent / "Code-Point_Open_Column_Headers.csv").read_bytes()
    )
    (folder / "Doc" / "metadata.txt").write_text("DATASET VERSION NUMBER: 2025.4.0\n")
    return folder


def timed(label: str, func) -> float:
    t0 = time.perf_counter()
    func()
    seconds = time.perf_counter() - t0
    print(f"{label}: {seconds:.2f} s")
    return seconds


def main() -> None:
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "raw"
    regs = raw / "nhs_gp_reg_pat_prac_all_2022-01" / "gp-reg-pat-prac-all.csv"
    mapping = raw / "nhs_gp_reg_pat_prac_map_2022-01" / "gp-reg-pat-prac-map.csv"
    extract = raw / "os_codepoint_open_extract" / "codepoint_open_practice_postcodes.csv"
    ons = raw / "ons_ccg_boundaries" / "ccg21.geojson"

    def footprint_import(postcodes: Path) -> None:
        # the national folder lacks the 2018.3 vintage: A82004 (CA9 3QX) is then imputed 25.7 km off
        table, _, report = import_practices(
            regs, mapping, postcodes=postcodes, ons_boundaries=ons, fallback=None, far_imputed="keep"
        )
        assert len(table) == 6527, report

    def pandas_join() -> None:
        m = pd.read_csv(mapping, dtype=str)
        a = pd.read_csv(regs, dtype=str)
        c = pd.read_csv(extract, dtype=str).sort_values("codepoint_version", ascending=False)
        c = c.drop_duplicates("Postcode")
        joined = m.merge(a, left_on="PRACTICE_CODE", right_on="CODE").merge(
            c, left_on="PRACTICE_POSTCODE", right_on="Postcode", how="left"
        )
        assert len(joined) == 6527

    footprint_import(extract)  # warm the imports and file cache
    ours = timed(
        "footprint import, all England, Code-Point extract + ONS boundaries",
        lambda: footprint_import(extract),
    )
    peer = timed("plain pandas read and merge of the same three CSVs (no checks)", pandas_join)
    print(f"total {ours:.2f} s (target <= 10 s); {ours / peer:.1f}x the plain pandas join")
    with tempfile.TemporaryDirectory() as tmp:
        folder = national_codepoint(extract, Path(tmp) / "codepo_gb")
        national = timed(
            f"footprint import with a national-size Code-Point Open folder ({NATIONAL_ROWS:,} postcodes)",
            lambda: footprint_import(folder),
        )
    print(f"national-size total {national:.2f} s (target <= 10 s)")
    files_as_held(raw)


def files_as_held(raw: Path) -> None:
    """Import April 2025's list sizes with October's map and 2023's sub-ICBs; print the figures."""
    postcodes = pd.read_csv(raw / "nhs_gp_reg_pat_prac_map_2025-10" / "gp-reg-pat-prac-map.csv")
    postcodes = postcodes["PRACTICE_POSTCODE"]
    read_postcode_lookup(POSTCODES_FILE, postcodes=postcodes)  # warm the file cache
    load = timed(
        f"shipped lookup {POSTCODES_FILE.name} ({POSTCODES_FILE.stat().st_size / 1e6:.2f} MB): "
        f"load and find {len(postcodes):,} postcodes",
        lambda: read_postcode_lookup(POSTCODES_FILE, postcodes=postcodes),
    )
    every = timed("shipped lookup: every postcode as a table", lambda: read_postcode_lookup(POSTCODES_FILE))
    rows = len(read_postcode_lookup(POSTCODES_FILE))
    print(f"shipped lookup: {rows:,} postcodes; {load:.2f} s to find the practices', {every:.2f} s for all")
    result = {}

    def run() -> None:
        result["out"] = import_practices(
            raw / "nhs_gp_reg_pat_prac_all_2025-04" / "gp-reg-pat-prac-all.zip",
            raw / "nhs_gp_reg_pat_prac_map_2025-10" / "gp-reg-pat-prac-map.csv",
            ons_boundaries=raw.parent / "boundaries" / "sub_icb_2023" / "sub-icbs.geojson",
            months_apart="allow",
        )

    seconds = timed("footprint import, April 2025 list sizes + October 2025 map + 2023 sub-ICBs", run)
    table, boundaries, report = result["out"]
    for line in report.lines():
        print("  " + line)
    figures = {
        "practices": report.practices,
        "PCN codes": table["pcn_code"].nunique(),
        "sub-ICB locations": len(report.totals),
        "boundary polygons": 0 if boundaries is None else len(boundaries),
        "in the list sizes only": len(report.registrations_only),
        "in the map only": len(report.map_only),
        "imputed": report.located.get(IMPUTED, 0),
    }
    print(f"{seconds:.2f} s; " + ", ".join(f"{k} {v:,}" for k, v in figures.items()))
    assert figures["practices"] == 6202 and figures["in the list sizes only"] == 37, figures


if __name__ == "__main__":
    main()
