"""Benchmark: check (stranding included), every current PCN proposed alone, and repair, on all England.

Run: .venv/bin/python benchmarks/check.py [--sample N] [--skip-check] [--skip-proposals] [--skip-repair]

1. ``footprint check --no-maps`` of England's current PCNs as a subprocess (after a warm-up
   that fills the graph cache): wall time against the 30 s target, errors, stranded and at
   risk practices.
2. ``check --proposal`` of the issue's two proposals on all England (no ``--ccg``): its
   lines of output, exit code and verdict. Then every current PCN proposed alone in turn
   (:func:`footprint.partition.judge_proposal`, the verdict ``check --proposal`` prints;
   each CCG's baseline solved once and reused, as a notebook would): median
   and p95 seconds per proposal against the 1 s median target. ``--sample N`` takes N PCNs
   spread over England instead of all 1,2xx (and says so).
3. ``footprint repair --no-maps`` in both modes (default; ``--split-large``): wall time
   against 90 s, practices moved over England, open practices placed, and per CCG the moves
   and the gap to the bound; beside ``footprint plan`` from scratch: practices moved from
   the current PCNs, patients in in-band groups and current PCNs kept intact.

Figures only: nothing is asserted, targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from footprint.config import SolveOptions
from footprint.evaluate import score_plan
from footprint.graph import graph_from_practices
from footprint.load import read_boundaries, read_practices
from footprint.partition.stages import StageResult
from footprint.plan import Plan, plan_from_practices, read_plan, transfer_distance

CHECK_TARGET_S = 30.0
PROPOSAL_TARGET_S = 1.0
REPAIR_TARGET_S = 90.0


def _run(*argv: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "footprint", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        print(done.stderr[-2000:])
    return time.perf_counter() - start, done.stdout


def bench_check(out: Path) -> None:
    _run("graph", "--out", str(out / "graph"))  # warm-up: fills the graph cache
    seconds, stdout = _run("check", "--no-maps", "--out", str(out / "check"))
    summary = json.loads((out / "check" / "summary.json").read_text())
    stranded = sum(len(r["stranded"]) for r in summary["stranding"].values())
    at_risk = sum(len(r["at_risk"]) for r in summary["stranding"].values())
    unproven = [c for c, r in summary["stranding"].items() if not (r["proven"] and r["baseline_proven"])]
    print(f"check of England's current PCNs: {seconds:.1f} s (target <= {CHECK_TARGET_S:.0f} s)")
    print(
        f"  {summary['errors']} errors, {summary['warnings']} warnings; {stranded} practices stranded, "
        f"{at_risk} at risk; CCGs not proven: {', '.join(unproven) or 'none'}"
    )
    print("  " + stdout.strip().splitlines()[-1])


def bench_proposals(sample: int | None) -> None:
    from footprint.partition import judge_proposal

    practices = read_practices()
    graph = graph_from_practices(practices, read_boundaries())
    current = plan_from_practices(practices)
    options = SolveOptions(processes=1)
    groups = sorted(current.groups.items())
    # A proposal must lie in one CCG: PCNs across CCG lines are proposed as their largest part.
    proposals = []
    for pcn, members in groups:
        by_ccg: dict[str, list[str]] = {}
        for code in members:
            by_ccg.setdefault(graph.nodes[code]["ccg_code"], []).append(code)
        proposals.append((pcn, max(by_ccg.values(), key=len)))
    if sample is not None and sample < len(proposals):
        step = len(proposals) / sample
        proposals = [proposals[int(k * step)] for k in range(sample)]
        print(f"proposals: a sample of {len(proposals)} of {len(groups)} current PCNs, spread over England")
    baselines: dict[str, StageResult] = {}
    times, stranding, unfreed, unfound = [], 0, 0, 0
    skipped = valid = 0
    for _pcn, proposed in proposals:
        start = time.perf_counter()
        verdict = judge_proposal(graph, proposed, current=current, options=options, baselines=baselines)
        if verdict.stranding is None:  # a PCN in pieces is not one group: said so, not judged
            skipped += 1
            continue
        baselines.setdefault(verdict.ccgs[0], verdict.stranding.baseline)
        valid += verdict.valid
        if verdict.stranded:
            stranding += 1
            exceptions = [c.text for c in verdict.stranding.changes if c.kind == "exception"]
            unfound += any("within the time limit" in text for text in exceptions)
            unfreed += bool(exceptions) and not any("within the time limit" in text for text in exceptions)
        times.append(time.perf_counter() - start)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(
        f"every current PCN proposed alone: {len(times)} proposals, median {statistics.median(times):.2f} s "
        f"(target <= {PROPOSAL_TARGET_S:.0f} s), p95 {p95:.2f} s, max {times[-1]:.2f} s "
        f"(each CCG's first proposal also solves its baseline); {stranding} strand a practice, "
        f"{unfreed} of them freed by no change (a commissioner's exception), {unfound} with no change found "
        f"within the limit; {valid} valid (in band or exempt, connected); "
        f"{skipped} not judged for stranding (not one connected group within one CCG)"
    )


#: The issue's proposals: below the band (25,029), and one whose smallest change once broke it.
ISSUE_PROPOSALS = ("M85042,M85074,M85733,M85783", "L82006,L82052")


def bench_issue_proposals(out: Path) -> None:
    """Print ``check --proposal`` of the issue's proposals (all England, no --ccg): lines, exit, verdict."""
    for proposal in ISSUE_PROPOSALS:
        seconds, done = _run_code(
            "check", "--proposal", proposal, "--no-maps", "--out", str(out / "proposal")
        )
        lines = done.stdout.strip().splitlines()
        verdict = json.loads((out / "proposal" / "summary.json").read_text())["proposal"]
        print(
            f"check --proposal {proposal}: exit {done.returncode}, {len(lines)} lines of output "
            f"(was 1,271 of England's findings), {seconds:.1f} s; {verdict['patients']:,} patients, "
            f"valid {verdict['valid']}, strands {verdict['strands']}"
        )
        for line in lines:
            print(f"  | {line}")


def _run_code(*argv: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "footprint", *argv], capture_output=True, text=True, check=False
    )
    return time.perf_counter() - start, done


def bench_repair(out: Path) -> None:
    practices = read_practices()
    graph = graph_from_practices(practices, read_boundaries())
    current = plan_from_practices(practices)
    for mode in ((), ("--split-large",)):
        folder = out / ("repair" + "".join(mode))
        seconds, _ = _run("repair", "--no-maps", *mode, "--out", str(folder))
        summary = json.loads((folder / "summary.json").read_text())
        england = summary["england"]
        name = "repair --split-large" if mode else "repair"
        print(
            f"{name} of England: {seconds:.1f} s (target <= {REPAIR_TARGET_S:.0f} s); "
            f"{england['moved']} practices moved (transfer distance), {england['open_placed']} open placed; "
            f"{england['in_band_share']:.2%} of patients in band; out of band {england['out_of_band']}"
        )
        figures = {c: r["repair"] for c, r in summary["ccgs"].items()}
        unproven = sum(not f["proven"] for f in figures.values())
        print(f"  CCGs with moves not proven minimal: {unproven} of {len(figures)}")
        for ccg, f in sorted(figures.items()):
            if f["moves"] or f["errors_left"]:
                print(
                    f"  {ccg}: {f['moves']} moved, bound {f['bound']}, gap {f['gap']}, "
                    f"{f['errors_left']} errors left"
                )
    seconds, _ = _run("plan", "--no-maps", "--out", str(out / "plan"))
    plan = read_plan(out / "plan" / "plan.csv")
    score = score_plan(plan, graph)
    intact = sum(
        any(members == group for group in plan.groups.values()) for members in current.groups.values()
    )
    moved = transfer_distance(current, Plan(plan.assignment))
    print(
        f"beside: plan from scratch ({seconds:.1f} s): {moved:,} practices moved from the current PCNs, "
        f"{score.in_band_patients:,} patients in in-band groups ({score.in_band_share:.2%}), "
        f"{intact} of {len(current.groups)} current PCNs kept intact"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="propose only N current PCNs (default: all)")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--skip-proposals", action="store_true")
    parser.add_argument("--skip-repair", action="store_true")
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        if not args.skip_check:
            bench_check(out)
        if not args.skip_proposals:
            bench_issue_proposals(out)
            bench_proposals(args.sample)
        if not args.skip_repair:
            bench_repair(out)


if __name__ == "__main__":
    main()
