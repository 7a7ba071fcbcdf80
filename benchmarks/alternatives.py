"""Benchmark: diverse alternatives (``footprint.partition.alternative_plans``), against GerryChain's ReCom.

Run: .venv/bin/python benchmarks/alternatives.py [--n 100] [--all-n 10] [--skip-all]

1. 100 alternatives of North West London (W2U3Z, 354 practices) in one process: plans per
   minute (target >= 10 on 2 cores), how far apart they are (practices moved between
   consecutive plans and from the first) and how many practices are contested.
2. 10 alternatives of every CCG of England, two processes: plans per minute.
3. The peer: a GerryChain ReCom chain of the same length on W2U3Z, started from footprint's
   first plan, each step a new plan (population = list size, 30,000-50,000 as epsilon
   around 40,000): steps per minute and how many of its plans keep every group in band.

Figures only: nothing is asserted; targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings

import networkx as nx

from footprint.config import SolveOptions
from footprint.graph import graph_from_practices
from footprint.load import read_practices, select_ccgs
from footprint.partition import PlanInputs, alternative_plans
from footprint.plan import Plan, aligned_groups, transfer_distance


def one_ccg(ccg: str, n: int, min_diff: int) -> tuple[Plan, nx.Graph, float]:
    practices = read_practices()
    graph = graph_from_practices(practices)
    sub = graph.subgraph(select_ccgs(practices, [ccg]).index).copy()
    start = time.perf_counter()
    alts = alternative_plans(
        sub, n=n, min_diff=min_diff, options=SolveOptions(processes=1), inputs=PlanInputs()
    )
    seconds = time.perf_counter() - start
    result = alts.ccgs[ccg]
    rate = result.found / seconds * 60
    plans = list(alts.plans)
    steps = [transfer_distance(a, b) for a, b in itertools.pairwise(plans)]
    from_first = [transfer_distance(plans[0], p) for p in plans[1:]]
    contested = int((aligned_groups({f"alt-{k}": p for k, p in enumerate(plans)})["contested"] > 0).sum())
    print(f"{ccg}: {len(sub)} practices, {result.note}, {seconds:.1f} s")
    print(f"  plans per minute {rate:.1f} (target >= 10: {'met' if rate >= 10 else 'MISSED'})")
    if steps:
        print(
            f"  practices moved between consecutive plans: median {statistics.median(steps):.0f}, "
            f"max {max(steps)}; from the first plan: median {statistics.median(from_first):.0f}, "
            f"max {max(from_first)}; contested practices {contested} of {len(sub)}"
        )
    return plans[0], sub, rate


def all_ccgs(n: int, min_diff: int) -> None:
    graph = graph_from_practices(read_practices())
    start = time.perf_counter()
    alts = alternative_plans(graph, n=n, min_diff=min_diff, options=SolveOptions(processes=2))
    seconds = time.perf_counter() - start
    found = sum(r.found for r in alts.ccgs.values())
    short = [c for c, r in alts.ccgs.items() if r.found < n]
    proven = [c for c in short if alts.ccgs[c].exhausted]
    print(
        f"all England, {len(alts.ccgs)} CCGs x {n} alternatives: {found:,} plans in {seconds:.1f} s, "
        f"{found / seconds * 60:.1f} plans per minute; {len(short)} CCG(s) with fewer "
        f"({len(proven)} proven to have no more)"
    )


def recom_peer(first: Plan, graph, steps: int, footprint_rate: float) -> None:
    sizes: dict[str | None, int] = {}
    for code, pcn in first.assignment.items():
        sizes[pcn] = sizes.get(pcn, 0) + graph.nodes[code]["list_size"]
    first_out = sum(not 30_000 <= v <= 50_000 for v in sizes.values())
    try:
        from gerrychain import Graph, MarkovChain, Partition
        from gerrychain.accept import always_accept
        from gerrychain.proposals import recom
        from gerrychain.tree import bipartition_tree
        from gerrychain.updaters import Tally
    except ImportError:
        print("peer: gerrychain not installed (pip install -e '.[bench]')")
        return
    from functools import partial

    codes = sorted(graph)
    number = {code: i for i, code in enumerate(codes)}
    numbered = nx.Graph()
    numbered.add_nodes_from((number[c], {"population": int(graph.nodes[c]["list_size"])}) for c in codes)
    numbered.add_edges_from(
        sorted(
            tuple(sorted((number[a], number[b])))
            for a, b, kind in graph.edges(data="type")
            if kind != "cross_ccg"
        )
    )
    g = Graph.from_networkx(numbered)
    assignment = {number[c]: p for c, p in first.assignment.items() if c in number}
    initial = Partition(g, assignment, updaters={"population": Tally("population", alias="population")})
    step = partial(
        recom,
        pop_col="population",
        pop_target=40_000,
        epsilon=0.25,
        node_repeats=2,
        bipartition_tree_fn=partial(bipartition_tree, max_attempts=200),
    )
    failed = 0

    def proposal(
        state: Partition,
    ) -> Partition:  # a pair that cannot be re-cut in band (a practice over 50,000) stays put
        nonlocal failed
        try:
            return step(state)
        except (RuntimeError, ValueError):
            failed += 1
            return state

    chain = MarkovChain(
        proposal,  # type: ignore[arg-type]  # GerryChain's ProposalFn protocol names its argument otherwise
        constraints=[],
        acceptance_fn=always_accept,
        initial_partition=initial,
        total_steps=steps,
    )
    start = time.perf_counter()
    out_of_band, seen = [], set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for state in chain:
            out_of_band.append(sum(not 30_000 <= v <= 50_000 for v in state["population"].values()))
            seen.add(frozenset(frozenset(p) for p in state.parts.values()))
    seconds = time.perf_counter() - start
    rate = steps / seconds * 60
    print(
        f"peer GerryChain ReCom on the same CCG: {steps} steps in {seconds:.1f} s, {rate:.1f} per minute; "
        f"{failed} steps found no cut; {len(seen)} distinct plans; groups out of 30,000-50,000 per plan: "
        f"median {statistics.median(out_of_band):.0f}, max {max(out_of_band)} (footprint's: {first_out} in "
        "every plan, the proven least)"
    )
    print(f"ratio footprint / GerryChain plans per minute: {footprint_rate / rate:.2g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ccg", default="W2U3Z")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--min-diff", type=int, default=5)
    parser.add_argument("--all-n", type=int, default=10)
    parser.add_argument("--skip-all", action="store_true")
    args = parser.parse_args()
    first, sub, rate = one_ccg(args.ccg, args.n, args.min_diff)
    recom_peer(first, sub, args.n, rate)
    if not args.skip_all:
        all_ccgs(args.all_n, args.min_diff)


if __name__ == "__main__":
    main()
