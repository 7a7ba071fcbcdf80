"""Benchmark footprint share: candidate pairs, the proven optimal pairing and clusters of 3 on all England.

Runs on the current PCNs of the shipped practices file and, if ``out/plan/plan.csv`` (or the
path given as the one argument) exists, on that plan's PCNs; last, the whole analysis of the
current PCNs with clusters of 3 (the arrangement and its sensitivity table, each limit solved by
the partition model). Figures only; nothing is asserted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import networkx as nx

from footprint.graph import graph_from_practices
from footprint.load import read_practices
from footprint.plan import Plan, plan_from_practices, read_plan
from footprint.share import (
    ShareOptions,
    cluster_reach,
    optimal_pairs,
    pcn_graph,
    share_candidates,
    share_plan,
)

TARGET_S = 10.0
CLUSTER_TARGET_S = 60.0
PLAN = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/plan/plan.csv")


def bench(name: str, plan: Plan, graph: nx.Graph, options: ShareOptions) -> None:
    start = time.perf_counter()
    candidates = share_candidates(plan, graph, options=options)
    pairs_s = time.perf_counter() - start
    result = share_plan(plan, graph, options=options)  # singles, sensitivity, reasons too
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
        f"  whole analysis with the sensitivity table ({len(options.sensitivity_km)} limits): {whole_s:.2f} s"
    )


def bench_clusters(name: str, plan: Plan, graph: nx.Graph, options: ShareOptions) -> None:
    from footprint.config import SolveOptions
    from footprint.partition import cluster_groups

    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    for p, members in pcns.nodes(data="members"):
        pcns.nodes[p]["bases"] = tuple(members)
    start = time.perf_counter()
    reach = cluster_reach(pcns, graph, max_km=options.max_km)
    solved = cluster_groups(
        pcns,
        max_pcns=options.cluster_size,
        max_patients=options.max_patients,
        max_practices=options.max_practices,
        reach=reach,
        options=SolveOptions(workers=1, processes=2),
    )
    seconds = time.perf_counter() - start
    status = solved.info["status"]
    proven = sum(v["status"] == "OPTIMAL" for v in status.values())
    ccgs = {c for v in status.values() for c in v["ccgs"]}
    open_ccgs = {c for v in status.values() if v["status"] != "OPTIMAL" for c in v["ccgs"]}
    slowest = max(status.items(), key=lambda kv: sum(s["seconds"] for s in kv[1]["stages"]))
    verdict = "met" if seconds <= CLUSTER_TARGET_S and not open_ccgs else "NOT met"
    print(
        f"{name}, clusters of up to {options.cluster_size} ({options.limits_text()}): {len(pcns):,} PCNs, "
        f"{len(status):,} components in {len(ccgs):,} CCGs; CD posts {len(solved.groups):,}\n"
        f"  reach + partition model {seconds:.2f} s (target <= {CLUSTER_TARGET_S:.0f} s, optimum proven "
        f"in every CCG: {verdict}); proven in {proven:,}/{len(status):,} components"
        f"{'; not proven in ' + ', '.join(sorted(open_ccgs)) if open_ccgs else ''}\n"
        f"  slowest component {slowest[0]} ({slowest[1]['pcns']} PCNs, {', '.join(slowest[1]['ccgs'])}): "
        f"{sum(s['seconds'] for s in slowest[1]['stages']):.2f} s of CP-SAT"
    )


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
    for name, plan in plans.items():
        bench_clusters(name, plan, graph, ShareOptions(cluster_size=3))
    options = ShareOptions(cluster_size=3)
    start = time.perf_counter()
    result = share_plan(plans["current PCNs"], graph, options=options)
    posts = ", ".join(f"{r.max_km:g} km {r.cd_posts}" for r in result.sensitivity.itertuples())
    print(
        f"current PCNs, clusters of up to 3, whole analysis with the sensitivity table solved by the "
        f"partition model at {len(options.sensitivity_km)} limits: {time.perf_counter() - start:.2f} s "
        f"(no target; proven at every limit: {bool(result.sensitivity['proven'].all())})\n  CD posts: {posts}"
    )


if __name__ == "__main__":
    main()
