"""Benchmark footprint share on all England: pairs, clusters of 3 and 4, and the command an ICS analyst runs.

Runs on the current PCNs of the shipped practices file and, if ``out/plan/plan.csv`` (or the
path given as the one argument) exists, on that plan's PCNs: the candidate pairs and the proven
optimal pairing; the arrangements of clusters of up to 3 and up to 4 PCNs by the partition model
(every cluster based by the one rule); then ``footprint share --cluster-size 4 --max-km 10
--sensitivity 10`` as a command (target 60 s: it solves pairs, clusters of 3 and clusters of 4
at 10 km and writes every output). Figures only; nothing is asserted.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx

from footprint.graph import graph_from_practices
from footprint.load import read_practices
from footprint.plan import Plan, plan_from_practices, read_plan
from footprint.share import ShareOptions, optimal_pairs, pcn_graph, share_candidates, share_plan
from footprint.share.candidates import _candidates, _limit_breaches, _singles, _Sites
from footprint.share.compare import _figures_of, arrange, option_row
from footprint.share.rates import rate_for_year

TARGET_S = 10.0
CLUSTER_TARGET_S = 60.0
COMMAND_TARGET_S = 60.0
PLAN = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/plan/plan.csv")


def bench(name: str, plan: Plan, graph: nx.Graph, options: ShareOptions) -> None:
    start = time.perf_counter()
    candidates = share_candidates(plan, graph, options=options)
    pairs_s = time.perf_counter() - start
    result = share_plan(plan, graph, options=options)  # singles, the options compared, reasons too
    start = time.perf_counter()
    allowed = candidates[candidates["meets_limits"]]
    chosen = optimal_pairs(
        list(pcn_graph(plan, graph, across_ccgs=options.across_ccgs)),
        allowed,
        result.singles["cost"].to_dict(),
    )
    match_s = time.perf_counter() - start
    start = time.perf_counter()
    share_plan(plan, graph, options=options)
    whole_s = time.perf_counter() - start
    total = pairs_s + match_s
    verdict = "met" if total <= TARGET_S else "NOT met"
    print(
        f"{name} ({options.limits_text()}{', across CCGs' if options.across_ccgs else ''}): "
        f"{len(result.singles):,} PCNs, {len(candidates):,} pairs ({len(allowed):,} meet the limits)\n"
        f"  pairs {pairs_s:.2f} s + optimal pairing {match_s:.2f} s = {total:.2f} s "
        f"(target <= {TARGET_S:.0f} s: {verdict}); CD posts {len(result.singles) - len(chosen):,}\n"
        f"  whole analysis with the options compared ({len(options.sensitivity_km)} limits): {whole_s:.2f} s"
    )


def bench_clusters(name: str, plan: Plan, graph: nx.Graph, options: ShareOptions) -> None:
    """Time the candidates and the partition model's clusters of up to ``options.cluster_size`` PCNs."""
    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    sites = _Sites.from_graph(pcns, graph)
    rate = rate_for_year(options.year)
    start = time.perf_counter()
    candidates = _candidates(pcns, sites, options, rate)
    free = ShareOptions(cluster_size=options.cluster_size, max_km=None)
    candidates["meets_other_limits"] = [not _limit_breaches(r, free) for r in candidates.to_dict("records")]
    listed_s = time.perf_counter() - start
    singles = _singles(pcns, sites, options, rate)
    start = time.perf_counter()
    found = arrange(
        pcns, graph, candidates, singles, cluster_size=options.cluster_size, max_km=options.max_km
    )
    seconds = time.perf_counter() - start
    status = found.status
    posts = len(pcns) - sum(len(c) - 1 for c in found.clusters)
    proven = sum(v["distance_proven"] for v in status.values())
    posts_proven = sum(v["posts_proven"] for v in status.values())
    ccgs = {c for v in status.values() for c in v["ccgs"]}
    slowest = max(status.items(), key=lambda kv: kv[1]["seconds"])
    mean_km = option_row(found, _figures_of(candidates), singles)["mean_km"]
    verdict = "met" if seconds <= CLUSTER_TARGET_S and proven == len(status) else "NOT met"
    print(
        f"{name}, clusters of up to {options.cluster_size} ({options.limits_text()}): {len(pcns):,} PCNs, "
        f"{len(status):,} components in {len(ccgs):,} CCGs; CD posts {posts:,}, "
        f"mean {mean_km:.2f} km to the base\n"
        f"  candidates {listed_s:.2f} s ({len(candidates):,}); partition model {seconds:.2f} s (target <= "
        f"{CLUSTER_TARGET_S:.0f} s, proven in every component: {verdict}); fewest posts proven in "
        f"{posts_proven:,}/{len(status):,} components, least distance in {proven:,}/{len(status):,}\n"
        f"  slowest component {slowest[0]} ({slowest[1]['pcns']} PCNs, {', '.join(slowest[1]['ccgs'])}): "
        f"{slowest[1]['seconds']:.2f} s of CP-SAT"
    )


def bench_command(argv: list[str]) -> None:
    """Time one ``footprint share`` command in its own process (load, solve, names, every output)."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "footprint", "share", *argv, "--no-maps", "--out", out]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith(("optimal", "CD posts"))]
    verdict = "met" if seconds <= COMMAND_TARGET_S and done.returncode == 0 else "NOT met"
    print(
        f"footprint share {' '.join(argv)}: {seconds:.1f} s wall, exit {done.returncode} "
        f"(target <= {COMMAND_TARGET_S:.0f} s: {verdict})"
    )
    for line in lines:
        print(f"  {line}")


def main() -> None:
    start = time.perf_counter()
    practices = read_practices()
    graph = graph_from_practices(practices)
    print(f"load and graph (cache) {time.perf_counter() - start:.2f} s")
    plans = {"current PCNs": plan_from_practices(practices)}
    if PLAN.exists():
        plans[f"plan {PLAN}"] = read_plan(PLAN, practices)
    else:
        print(f"{PLAN} not found: run footprint plan first to benchmark a plan's PCNs too")
    for name, plan in plans.items():
        bench(name, plan, graph, ShareOptions())
    bench(
        "current PCNs", plans["current PCNs"], graph, ShareOptions(across_ccgs=True, sensitivity_km=(10.0,))
    )
    for size in (3, 4):
        for name, plan in plans.items():
            bench_clusters(name, plan, graph, ShareOptions(cluster_size=size))
    bench_command(["--cluster-size", "4", "--max-km", "10", "--sensitivity", "10"])


if __name__ == "__main__":
    main()
