"""Benchmark: network areas from where patients live, for England's real PCNs and footprint's plan.

Run: .venv/bin/python benchmarks/areas.py [--plan PLAN.csv]

For the real PCNs of 1 January 2022 and for footprint's plan (``--plan``, else solved here
with the default options), with the shipped July 2022 registrations: areas in more than one
piece, the median share of such an area's patients outside its largest piece, areas enclosed
by another's (donuts), LSOAs left to no network, the median share of a network's patients
living in its own area, and beside them the cells' verdict (groups not connected in the
graph). Times: reading the LSOAs and registrations, and the areas of all England on a cache
miss (target <= 10 s) and on a hit.

Figures only: nothing is asserted, targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import networkx as nx

from footprint.areas import AreaSources, area_summary, network_areas, read_lsoas, read_registrations
from footprint.graph import WITHIN_CCG, cells, graph_from_practices
from footprint.load import read_boundaries, read_practices
from footprint.plan import Plan, plan_from_practices, read_plan

TARGET_S = 10.0


def _not_connected(plan: Plan, graph: nx.Graph) -> int:
    """Count the groups not connected in the cells graph (within-CCG edges)."""
    count = 0
    for members in plan.groups.values():
        sub = graph.subgraph(members)
        kept = nx.Graph(sub.edge_subgraph((a, b) for a, b, t in sub.edges(data="type") if t in WITHIN_CCG))
        kept.add_nodes_from(members)
        count += not nx.is_connected(kept)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, help="footprint's plan (default: solved here)")
    args = parser.parse_args()
    practices, boundaries = read_practices(), read_boundaries()
    graph = graph_from_practices(practices, boundaries)
    start = time.perf_counter()
    lsoas = read_lsoas()
    lsoa_s = time.perf_counter() - start
    start = time.perf_counter()
    registrations = read_registrations()
    reg_s = time.perf_counter() - start
    print(
        f"read {len(lsoas):,} LSOAs in {lsoa_s:.2f} s and {len(registrations):,} registrations "
        f"({registrations['practice_code'].nunique():,} practices) in {reg_s:.2f} s"
    )
    if args.plan is not None:
        plans = {"footprint's plan": read_plan(args.plan)}
    else:
        from footprint.partition import solve_plan

        start = time.perf_counter()
        plans = {"footprint's plan": solve_plan(graph)}
        print(f"footprint's plan solved in {time.perf_counter() - start:.1f} s")
    plans = {"real PCNs, 1 January 2022": plan_from_practices(practices), **plans}
    sources = AreaSources(lsoas=lsoas, registrations=registrations)
    with tempfile.TemporaryDirectory() as cache:
        for name, plan in plans.items():
            start = time.perf_counter()
            areas = network_areas(
                plan, practices, boundaries=boundaries, sources=sources, cells=cells(graph), cache_dir=cache
            )
            miss = time.perf_counter() - start
            start = time.perf_counter()
            network_areas(
                plan, practices, boundaries=boundaries, sources=sources, cells=cells(graph), cache_dir=cache
            )
            hit = time.perf_counter() - start
            figures = area_summary(areas)
            print(
                f"{name}: {figures['networks']:,} networks; {figures['in_several_pieces']:,} areas in "
                f"more than one piece (median {figures['median_share_outside_largest_piece']:.1%} of their "
                f"patients outside the largest piece); {figures['enclosed']} enclosed by another (donuts); "
                f"{figures['lsoas_left_to_no_network']} LSOAs left to no network; median "
                f"{figures['median_share_inside']:.1%} of a network's patients live in its area; "
                f"cells judge {_not_connected(plan, graph):,} not connected; "
                f"{len(figures['practices_not_in_registrations'])} practices of networks not in the "
                "registrations, "
                f"{len(figures['networks_drawn_from_cells'])} networks drawn from cells; "
                f"areas in {miss:.2f} s on a cache miss (target <= {TARGET_S:g} s), {hit:.2f} s on a hit"
            )
    england = areas.ccgs
    worst = england.sort_values("share_other_ccg", ascending=False).head(3)
    shown = ", ".join(f"{c} {r.share_other_ccg:.1%}" for c, r in worst.iterrows())
    other, patients = int(england["other_ccg"].sum()), int(england["patients"].sum())
    print(
        f"patients living in another CCG: {other:,} of {patients:,} ({other / patients:.1%}); "
        f"most: {shown}; in LSOAs the boundaries lack (Wales, unknown): {int(england['unknown'].sum()):,}"
    )


if __name__ == "__main__":
    main()
