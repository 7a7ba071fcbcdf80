"""Benchmark: build the adjacency graph of all England on a cache miss, against libpysal.

Run: .venv/bin/python benchmarks/graph.py   (needs the ``bench`` extra for libpysal)

Prints the seconds to load and build, edge counts by type, the bridges, and the time
libpysal takes to build rook weights from the same cells, with the ratio.
"""

from __future__ import annotations

import resource
import time
from collections import Counter

import geopandas as gpd

from footprint.graph import bridges, cells, graph_from_practices
from footprint.load import read_boundaries, read_practices


def main() -> None:
    t0 = time.perf_counter()
    practices = read_practices()
    boundaries = read_boundaries()
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    graph = graph_from_practices(practices, boundaries, use_cache=False)
    t_build = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    counts = Counter(kind for _, _, kind in graph.edges(data="type"))
    print(f"practices {graph.number_of_nodes():,}; CCGs {len(graph.graph['pieces'])}")
    total = t_load + t_build
    print(f"load {t_load:.2f} s; build (cache miss) {t_build:.2f} s; total {total:.2f} s (target <= 10 s)")
    print(f"peak resident memory so far {peak / 2**20:.0f} MiB")
    print("edges: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"bridges ({len(bridges(graph))}):")
    for b in bridges(graph):
        na, nb = graph.nodes[b.a]["practice_name"], graph.nodes[b.b]["practice_name"]
        print(f"  {b.ccg_code:<6} {b.a} {na} -- {b.b} {nb}: {b.length_km:.1f} km")

    graph_from_practices(practices, boundaries)  # fill the cache
    t0 = time.perf_counter()
    graph_from_practices(practices, boundaries)
    print(f"read from cache {time.perf_counter() - t0:.2f} s")

    try:
        from libpysal.weights import Rook
    except ImportError:
        print("libpysal not installed: pip install -e .[bench] for the peer comparison")
        return
    unique = cells(graph).drop_duplicates()
    site_cells = gpd.GeoDataFrame(geometry=unique, crs=practices.crs).reset_index(drop=True)
    t0 = time.perf_counter()
    weights = Rook.from_dataframe(site_cells, use_index=False, silence_warnings=True)
    t_rook = time.perf_counter() - t0
    print(
        f"libpysal Rook.from_dataframe on the same {len(site_cells):,} cells: {t_rook:.2f} s, "
        f"{weights.s0 / 2:,.0f} joins (cells only, no sites, bridges or CCG typing)"
    )
    print(f"ratio footprint build / libpysal rook: {t_build / t_rook:.2f}")


if __name__ == "__main__":
    main()
