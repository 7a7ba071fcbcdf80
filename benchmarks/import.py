"""Benchmark: ``footprint import`` of all England (January 2022), against a plain pandas join.

Run: .venv/bin/python benchmarks/import.py [RAW_FOLDER]   (default ../shared/data/raw)

Times :func:`footprint.sources.import_practices` on the raw 2022-01 NHS Digital files with
the Code-Point extract and ONS boundaries (target <= 10 s), then with a Code-Point Open
folder of national size (1.75 million postcodes in 120 headerless CSVs, the extract's
rows plus made-up filler postcodes), and a plain pandas read-and-merge of the same three
CSVs (no checks, no imputation, no boundaries) as the peer.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from footprint.sources import import_practices

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
        table, _, report = import_practices(
            regs, mapping, postcodes=postcodes, ons_boundaries=ons, fallback=None
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


if __name__ == "__main__":
    main()
