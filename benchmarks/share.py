"""Benchmark footprint share: candidate pairs and the proven optimal pairing on all England.

Runs on the current PCNs of the shipped practices file and, if ``out/plan/plan.csv`` (or the
path given as the one argument) exists, on that plan's PCNs. Figures only; nothing is asserted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import networkx as nx

from footprint.graph import graph_from_practices
from footprint.load import read_practices
from footprint.plan import Plan, plan_from_practices, read_plan
from footprint.share import ShareOptions, optimal_pairs, pcn_graph, share_candidates, share_plan

TARGET_S = 10.0
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


if __name__ == "__main__":
    main()
