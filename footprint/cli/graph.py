"""``footprint graph``: build the graph of neighbouring practices and summarise it per CCG."""

from __future__ import annotations

import argparse
import csv

import networkx as nx

from footprint._io import atomic_write
from footprint._text import plural
from footprint.cli._common import add_area_options, load, out_dir
from footprint.graph import bridges, ccg_subgraph, pieces_before_bridging
from footprint.places import display_name


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``graph`` command."""
    parser = commands.add_parser(
        "graph", parents=parents, help="build the graph of neighbouring practices and summarise it per CCG"
    )
    add_area_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the adjacency graph, print a per-CCG summary and write its edges; 1 if a CCG is split.

    ``edges.csv`` has one row per edge: ``a``, ``b``, ``type``, ``border_m`` (rook and
    cross-CCG edges of cells), ``length_km`` (bridges), and with ``--neighbours patients``
    the weight of edges by shared patients: ``patients`` shared and ``share``, that over the
    smaller practice's registered patients.
    """
    practices, _, graph = load(args)
    pieces = pieces_before_bridging(graph)
    by_ccg: dict[str, list] = {}
    for bridge in bridges(graph):
        by_ccg.setdefault(bridge.ccg_code, []).append(bridge)
    names = graph.graph["ccg_names"]
    sizes = practices.groupby("ccg_code")["list_size"].agg(["size", "sum"])
    print(f"{'CCG':<6} {'practices':>9} {'patients':>10} {'pieces':>6}  connected  bridges (km)  name")
    connected_all = True
    for ccg, row in sizes.iterrows():
        connected = nx.is_connected(ccg_subgraph(graph, ccg))
        connected_all &= connected
        spans = ", ".join(
            f"{display_name(graph.nodes[b.a]['practice_name'])} to "
            f"{display_name(graph.nodes[b.b]['practice_name'])} "
            f"{b.length_km:.1f}"
            for b in by_ccg.get(ccg, [])
        )
        joined = "yes" if connected else "NO"
        print(
            f"{ccg:<6} {row['size']:>9,} {row['sum']:>10,} {pieces[ccg]:>6}  {joined:<9}"
            f"  {spans or '-':<12}  {names.get(ccg, '')}"
        )
    counts: dict[str, int] = {}
    for _, _, kind in graph.edges(data="type"):
        counts[kind] = counts.get(kind, 0) + 1
    print(
        f"{plural(len(sizes), 'CCG')}, {len(practices):,} practices, {int(sizes['sum'].sum()):,} patients; "
        f"{'every CCG connected' if connected_all else 'SOME CCGs NOT CONNECTED'}; "
        f"neighbours by {graph.graph.get('neighbours', 'cells')}; edges: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )
    out = out_dir(args) / "edges.csv"
    with atomic_write(out) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        columns = ["border_m", "length_km"]
        if graph.graph.get("neighbours") == "patients":
            columns += ["patients", "share"]
        writer.writerow(["a", "b", "type", *columns])
        for a, b, data in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1])):
            writer.writerow([a, b, data["type"], *(data.get(c, "") for c in columns)])
    print(f"edges written to {out}")
    return 0 if connected_all else 1
