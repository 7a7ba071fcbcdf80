"""Benchmark: England planned, checked and repaired on the cells graph and on the patients graph.

Run: .venv/bin/python benchmarks/neighbours.py [--out DIR]

For each of ``--neighbours cells`` (the default) and ``--neighbours patients``: the graph's
edges (within CCGs, across CCGs, bridges) and its build time on a cache miss; then, as
subprocesses with a warm graph cache, ``footprint plan --no-maps`` (patients in band, groups
out of band, compactness, wall time), ``footprint check --no-maps`` of the real PCNs of
January 2022 (PCNs not connected in that graph, wall time) and ``footprint repair --no-maps``
(practices moved, patients in band after, wall time). Printed side by side, with the
issue's rule for switching the default: the patients graph keeps England's in-band share
and takes at most 1.2 times the time.

Figures only: nothing is asserted. Each England run takes about 10 s (plan), 20 s (check) and
80 s (repair) on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from footprint.graph import WITHIN_CCG, graph_from_practices
from footprint.load import read_boundaries, read_practices

RULES = ("cells", "patients")
#: The issue's rule: switch the default only within this factor of the time.
TIME_FACTOR = 1.2


def _run(*argv: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "footprint", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        print(done.stderr[-2000:], file=sys.stderr)
    return time.perf_counter() - start, done


def _graph_figures(rule: str, cache: Path) -> dict[str, object]:
    practices, boundaries = read_practices(), read_boundaries()
    start = time.perf_counter()
    graph = graph_from_practices(practices, boundaries, neighbours=rule, cache_dir=cache)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    kinds = pd.Series([t for _, _, t in graph.edges(data="type")]).value_counts()
    return {
        "edges": graph.number_of_edges(),
        "edges within CCGs": int(kinds[[k for k in kinds.index if k in WITHIN_CCG]].sum()),
        "edges across CCGs": int(kinds.get("cross_ccg", 0)),
        "bridges": int(kinds.get("bridge", 0)),
        "graph build, cache miss (s)": round(seconds, 1),
    }


def _bench(rule: str, out: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as cache:
        figures = _graph_figures(rule, Path(cache))
    flag = ["--neighbours", rule]
    _run("graph", *flag, "--out", str(out / rule / "graph"))  # warm-up: fills the user's graph cache

    seconds, _ = _run("plan", *flag, "--no-maps", "--out", str(out / rule / "plan"))
    plan = json.loads((out / rule / "plan" / "summary.json").read_text())["england"]
    figures.update(
        {
            "plan: patients in band (%)": round(100 * plan["in_band_share"], 2),
            "plan: groups out of band": plan["out_of_band"],
            "plan: not exempt": plan["not_exempt"],
            "plan: groups": plan["groups"],
            "plan: compactness (km)": plan["compactness_km"],
            "plan: time (s)": round(seconds, 1),
        }
    )

    seconds, _ = _run("check", *flag, "--no-maps", "--out", str(out / rule / "check"))
    findings = pd.read_csv(out / rule / "check" / "findings.csv", dtype=str)
    cut = findings.loc[findings["rule"] == "contiguity", "group"].nunique()
    figures.update({"check: real PCNs not connected": int(cut), "check: time (s)": round(seconds, 1)})

    seconds, _ = _run("repair", *flag, "--no-maps", "--out", str(out / rule / "repair"))
    repair = json.loads((out / rule / "repair" / "summary.json").read_text())["england"]
    figures.update(
        {
            "repair: practices moved": repair["moved"],
            "repair: in band before (%)": round(100 * repair["before"]["in_band_share"], 2),
            "repair: in band after (%)": round(100 * repair["after"]["in_band_share"], 2),
            "repair: groups above / below after": f"{repair['after']['above']} / {repair['after']['below']}",
            "repair: time (s)": round(seconds, 1),
        }
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, help="folder for the commands' outputs (default: a temporary one)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        out = args.out or Path(temporary)
        table = pd.DataFrame({rule: _bench(rule, out) for rule in RULES})
    print(table.to_string())
    plan_s = table.loc["plan: time (s)"].astype(float)
    in_band = table.loc["plan: patients in band (%)"].astype(float)
    keeps = in_band["patients"] >= in_band["cells"]
    ratio = plan_s["patients"] / plan_s["cells"]
    print(
        f"switch the default? in-band share kept: {'yes' if keeps else 'no'}; plan time "
        f"{ratio:.2f}x the cells graph's (rule: <= {TIME_FACTOR}x)"
    )


if __name__ == "__main__":
    main()
