"""Benchmark: ``footprint plan`` on all England in several years, each against a peer in the same run.

Run: .venv/bin/python benchmarks/years.py --lsoa RAW/gp-registrations_2022-07_lsoa11.csv.gz

Data sets (the shipped ones always, July 2022 where its file is given):

- ``2022-01``: the shipped practices (1 January 2022) and CCG polygons;
- ``2022-07``: the same practices with each list size replaced by its patients summed over
  every row of the July 2022 registrations by LSOA (``--lsoa``, the csv.gz or parquet as
  published; Welsh and unknown residences included); practices absent from it are left
  out and counted. The file is built in a temporary folder, never in the checkout;
- ``2025-10``: the shipped 2025 snapshot (``--data 2025-10``), or, where given, a practices
  file and sub-ICB polygons of 2025 (``--practices-2025``, ``--boundaries-2025``), as
  ``footprint import`` writes them;
- with ``--varied SPREAD``, years no one has seen: each shipped snapshot with every list
  size times a random factor (log-normal, ``SPREAD`` its standard deviation, e.g. 0.1),
  one data set per seed of ``--varied-seeds``. Found so: 70F (2025, spread 0.1, seed 7)
  took 64.7 s before the pieces' open part counted its cut practice; 15N (2025 seed 2, 2022
  seeds 4 and 9) 73-125 s, stage 1 not proven, before stage 1's exact covers.

Per data set, as on the first run of a new year's data: the command gets a cache folder of
its own (``FOOTPRINT_CACHE_DIR``) holding only what the set-up run and the graph leave
there, filled untimed: the graph, the place names and the registrations parsed; not the
network areas of the data set's practices or of its plan, which the command works out as a
planner's first run does (with ``--areas-cached``, the usual cache, where a second run of
the same plan finds them). Then the whole command ``footprint plan --no-maps`` is timed (wall and CPU), and
the plan's figures printed (``benchmarks/partition.py``'s report: out of band, stage 1 proven,
how near every stage is to proven, compactness gaps); then, unless ``--no-peers``, spopt and
GerryChain run on up to 12 of its CCGs (those of ``partition.PEER_CCGS`` it has, else its
smallest and largest) and footprint's seconds are put against theirs, as
``benchmarks/partition.py`` does. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import partition as bench

from footprint.areas import area_inputs
from footprint.graph import graph_from_practices
from footprint.load import PRACTICES_FILE, SNAPSHOTS, read_boundaries, read_practices, select_ccgs
from footprint.places import read_places
from footprint.plan import read_plan


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time footprint plan on England in several years.")
    parser.add_argument("--lsoa", type=Path, help="July 2022 registrations by LSOA (csv, csv.gz or parquet)")
    parser.add_argument("--practices-2025", type=Path, help="a 2025 practices file (footprint import)")
    parser.add_argument("--boundaries-2025", type=Path, help="the 2025 sub-ICB polygons (footprint import)")
    parser.add_argument(
        "--out", type=Path, help="folder for each data set's plan (default: a new temporary one)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of footprint and the peers (default 0)")
    parser.add_argument(
        "--varied",
        type=float,
        metavar="SPREAD",
        help="also each shipped snapshot with list sizes times a log-normal factor of this spread",
    )
    parser.add_argument(
        "--varied-seeds", type=int, nargs="+", default=[1], metavar="N", help="their seeds (default 1)"
    )
    parser.add_argument("--no-peers", action="store_true", help="time footprint only")
    parser.add_argument(
        "--areas-cached",
        action="store_true",
        help="run in the usual cache, where the network areas of a plan run before are kept",
    )
    parser.add_argument(
        "--peer-limit", type=float, default=20.0, metavar="S", help="seconds per CCG per peer"
    )
    parser.add_argument(
        "--spopt-sa", type=int, default=1, metavar="N", help="spopt max_iterations_sa (default 1)"
    )
    args = parser.parse_args(argv)
    if (args.practices_2025 is None) != (args.boundaries_2025 is None):
        parser.error("give --practices-2025 and --boundaries-2025 together")
    for path in (args.lsoa, args.practices_2025, args.boundaries_2025):
        if path is not None and not path.is_file():
            parser.error(f"{path} is not a file")
    return args


def july_2022(lsoa: Path, folder: Path) -> tuple[Path, int]:
    """Write the shipped practices with July 2022 list sizes; return the file and the practices left out."""
    if lsoa.suffix == ".parquet":
        rows = pd.read_parquet(lsoa, columns=["PRACTICE_CODE", "NUMBER_OF_PATIENTS"])
    else:
        rows = pd.read_csv(
            lsoa, usecols=["PRACTICE_CODE", "NUMBER_OF_PATIENTS"], dtype={"PRACTICE_CODE": str}
        )
    patients = rows.groupby("PRACTICE_CODE")["NUMBER_OF_PATIENTS"].sum()
    practices = pd.read_csv(PRACTICES_FILE, dtype=str, keep_default_na=False)
    sizes = practices["practice_code"].map(patients)
    kept = practices[sizes.notna() & (sizes > 0)].copy()
    kept["list_size"] = sizes[kept.index].astype(int).astype(str)
    path = folder / "practices_2022-07.csv"
    kept.to_csv(path, index=False)
    return path, len(practices) - len(kept)


def data_sets(args: argparse.Namespace, folder: Path) -> list[tuple[str, list[str], str]]:
    """Return (name, the command's data arguments, a note) of each data set to run."""
    found = [("2022-01", [], "shipped practices and CCG polygons")]
    if args.lsoa is not None:
        path, left_out = july_2022(args.lsoa, folder)
        note = f"shipped practices, July 2022 list sizes from {args.lsoa.name}; {left_out} absent, left out"
        found.append(("2022-07", ["--practices", str(path), "--impute-missing"], note))
    if args.practices_2025 is not None:
        data = ["--practices", str(args.practices_2025), "--boundaries", str(args.boundaries_2025)]
        found.append(("2025", [*data, "--impute-missing"], f"{args.practices_2025}, {args.boundaries_2025}"))
    else:
        found.append(("2025-10", ["--data", "2025-10"], "shipped October 2025 PCNs, April 2025 list sizes"))
    for snapshot, extra in (("2022-01", ["--impute-missing"]), ("2025-10", ["--data", "2025-10"])):
        for seed in args.varied_seeds if args.varied else ():
            path = varied(snapshot, args.varied, seed, folder)
            note = f"shipped {snapshot}, list sizes times a log-normal factor ({args.varied}, seed {seed})"
            found.append((f"{snapshot}~{args.varied}-s{seed}", ["--practices", str(path), *extra], note))
    return found


def varied(snapshot: str, spread: float, seed: int, folder: Path) -> Path:
    """Write a snapshot's practices with each list size times a log-normal factor; return the file."""
    path = SNAPSHOTS[snapshot].practices if snapshot != "2022-01" else PRACTICES_FILE
    practices = pd.read_csv(path, dtype=str, keep_default_na=False)
    factor = np.random.default_rng(seed).lognormal(0.0, spread, len(practices))
    sizes = np.maximum(1, np.round(practices["list_size"].astype(float) * factor))
    practices["list_size"] = sizes.astype(int).astype(str)
    out = folder / f"practices_{snapshot}_varied_{spread}_{seed}.csv"
    practices.to_csv(out, index=False)
    return out


def _set_up(practices: pd.DataFrame, boundaries: object, cache: Path) -> None:
    """Fill ``cache`` as the set-up run leaves it: place names and the registrations parsed.

    The registrations are parsed by the areas of one CCG, whose own areas the command never
    reads (it works out those of every CCG).
    """
    read_places(cache_dir=cache)
    one = select_ccgs(practices, [str(practices["ccg_code"].iloc[0])])
    area_inputs(one, boundaries=boundaries, cache_dir=cache)


def _read(data: list[str]) -> tuple[pd.DataFrame, object]:
    """Read a data set's practices and polygons as the command does."""
    given = dict(zip(data[::2], data[1::2], strict=False))
    snapshot = SNAPSHOTS[given["--data"]] if "--data" in given else None
    if "--practices" in given:
        practices = read_practices(given["--practices"], impute="postcode")
    else:
        practices = read_practices(snapshot.practices if snapshot else None)
    boundaries = given.get("--boundaries") or (snapshot.boundaries if snapshot else None)
    return practices, read_boundaries(boundaries)


def _peer_ccgs(practices: pd.DataFrame) -> list[str]:
    """Return up to 12 CCGs for the peers: those of the usual list present, else the smallest and largest."""
    counts = practices["ccg_code"].value_counts()
    usual = [c for c in bench.PEER_CCGS if c in counts.index]
    if len(usual) >= 6:
        return usual
    ordered = list(counts.sort_values(kind="stable").index)
    return ordered[:6] + ordered[-6:]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="footprint-years-"))
    out_root = args.out or folder
    totals = []
    for name, data, note in data_sets(args, folder):
        print(f"\n=== {name}: {note}")
        t0 = time.perf_counter()
        cache = None if args.areas_cached else folder / f"cache-{name}"
        if cache is not None:
            os.environ["FOOTPRINT_CACHE_DIR"] = str(cache)
        practices, boundaries = _read(data)
        graph = graph_from_practices(practices, boundaries, cache_dir=cache)  # untimed: fills the cache
        if cache is not None:
            _set_up(practices, boundaries, cache)
        print(f"warm-up: practices and graph read (cache filled) in {time.perf_counter() - t0:.1f} s")
        out = out_root / name
        out.mkdir(parents=True, exist_ok=True)
        seconds, cpu = bench.run_footprint(out, None, args.seed, data)
        summary = json.loads((out / "summary.json").read_text())
        plan = read_plan(out / "plan.csv", practices)
        shipped = name == "2022-01"  # the targets are the shipped data's
        bench.report_footprint(plan, graph, summary, seconds, england=True, cpu=cpu, shipped=shipped)
        ccgs = summary.get("ccgs", {})
        unproven = [c for c, r in ccgs.items() if r["stages"][0]["status"] != "OPTIMAL"]
        totals.append(
            (name, seconds, len(ccgs) - len(unproven), len(ccgs), unproven, bench.gap_summary(ccgs))
        )
        if not args.no_peers:
            rural = frozenset(practices.index[practices["rural"]])
            peer_args = argparse.Namespace(
                peer_limit=args.peer_limit, seed=args.seed, spopt_sa=args.spopt_sa, repeat=1
            )
            bench.run_peers(graph, _peer_ccgs(practices), plan, summary, peer_args, rural)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    print("\nsummary (footprint plan --no-maps, whole command)")
    for name, seconds, proven, count, unproven, gaps in totals:
        missed = f" (not proven: {' '.join(unproven)})" if unproven else ""
        print(
            f"  {name}: wall {seconds:.1f} s (target <= {bench.TARGET_SECONDS:.0f} s: "
            f"{bench._mark(seconds <= bench.TARGET_SECONDS)}); stage 1 proven {proven}/{count}{missed};"
            f" {gaps}"
        )


if __name__ == "__main__":
    main()
