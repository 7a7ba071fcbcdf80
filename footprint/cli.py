"""The ``footprint`` command: one subcommand per stage of the pipeline.

Each command parses its options, calls one library function and writes its output.
Errors raised on purpose (:class:`footprint.errors.FootprintError`) become one line on
stderr and exit code 2; ``check`` exits 1 when the plan it checks breaks a rule.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import networkx as nx

from footprint import __version__
from footprint._io import atomic_write
from footprint.config import Rules, SizeBand, SolveOptions
from footprint.errors import DataError, FootprintError
from footprint.evaluate import score_plan
from footprint.graph import bridges, ccg_subgraph, cells, graph_from_practices, pieces_before_bridging
from footprint.load import read_allow_cross, read_boundaries, read_practices, select_ccgs
from footprint.partition import CcgResult, solve_plan
from footprint.plan import group_areas, plan_from_practices, read_plan, write_plan

logger = logging.getLogger("footprint")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"footprint: error: {message} (see {self.prog} --help)\n")


def _shared_options() -> _Parser:
    shared = _Parser(add_help=False)
    group = shared.add_argument_group("data")
    group.add_argument(
        "--practices", metavar="CSV", type=Path, help="practices file (default: the shipped England file)"
    )
    group.add_argument(
        "--boundaries", metavar="FILE", type=Path, help="CCG/sub-ICB polygons (default: the shipped 106 CCGs)"
    )
    group.add_argument(
        "--impute-missing",
        action="store_true",
        help="place practices without coordinates from their postcode neighbours instead of stopping",
    )
    group.add_argument("--ccg", metavar="CODE", nargs="+", help="only these CCGs (default: all)")
    group.add_argument(
        "--no-cache", action="store_true", help="rebuild the adjacency graph, ignoring the cache"
    )
    group.add_argument("--out", metavar="DIR", type=Path, help="output folder (default: out/<command>/)")
    shared.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    return shared


def _load(args: argparse.Namespace) -> tuple:
    """Read practices (of the CCGs asked for) and boundaries, and build the graph."""
    impute: Literal["postcode"] | None = "postcode" if args.impute_missing else None
    practices = read_practices(args.practices, impute=impute)
    boundaries = read_boundaries(args.boundaries)
    graph = graph_from_practices(practices, boundaries, use_cache=not args.no_cache)
    practices = select_ccgs(practices, args.ccg)
    if args.ccg:
        graph = graph.subgraph(practices.index).copy()
    return practices, boundaries, graph


def _out_dir(args: argparse.Namespace) -> Path:
    out = args.out if args.out is not None else Path("out") / args.command
    out.mkdir(parents=True, exist_ok=True)
    return out


def cmd_graph(args: argparse.Namespace) -> int:
    """Build the adjacency graph, print a per-CCG summary and write its edges."""
    practices, _, graph = _load(args)
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
            f"{graph.nodes[b.a]['practice_name'].title()} to {graph.nodes[b.b]['practice_name'].title()} "
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
        f"{len(sizes)} CCGs, {len(practices):,} practices, {int(sizes['sum'].sum()):,} patients; "
        f"{'every CCG connected' if connected_all else 'SOME CCGs NOT CONNECTED'}; edges: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )
    out = _out_dir(args) / "edges.csv"
    with atomic_write(out) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["a", "b", "type", "border_m", "length_km"])
        for a, b, data in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1])):
            writer.writerow([a, b, data["type"], data.get("border_m", ""), data.get("length_km", "")])
    print(f"edges written to {out}")
    return 0 if connected_all else 1


def cmd_map(args: argparse.Namespace) -> int:
    """Write an offline interactive map and printable PCN pages per CCG, and an index page."""
    from tqdm import tqdm  # the maps' imports (folium, Leaflet) load only for this command

    from footprint.plan import plan_from_practices, read_plan
    from footprint.render import band_problems, write_maps

    # PCNs that cross a CCG boundary need their members in other CCGs: load every practice.
    practices, boundaries, graph = _load(argparse.Namespace(**{**vars(args), "ccg": None}))
    plan = current = plan_from_practices(practices)
    name, beside = "Current PCNs", None  # beside: the current PCNs as a layer under a proposed plan
    if args.plan is not None:
        plan, name = read_plan(args.plan, practices), "Proposed plan"
        beside = current if current.groups else None
    out = args.maps if args.maps is not None else Path("maps")
    with tqdm(desc="maps", unit="CCG", disable=None, file=sys.stderr) as bar:

        def progress(done: int, total: int, ccg: str) -> None:
            bar.total = total
            bar.set_postfix_str(ccg)
            bar.update(done - bar.n)

        paths = write_maps(
            practices,
            graph,
            plan,
            out,
            boundaries=boundaries,
            current=beside,
            problems=band_problems(practices, plan),
            ccgs=args.ccg,
            name=name,
            tiles=args.tiles,
            assets=args.assets,
            progress=progress,
        )
    maps = [p for p in paths if p.suffix == ".html" and not p.name.endswith(("-pcns.html", "index.html"))]
    largest = max(maps, key=lambda p: p.stat().st_size)
    print(
        f"{name}: {len(maps)} CCG maps with printable PCN pages written to {out} "
        f"(largest {largest.name}, {largest.stat().st_size / 1e6:.1f} MB); open {out / 'index.html'}"
    )
    return 0


def _rules(args: argparse.Namespace) -> Rules:
    stages = ["out_of_band", "deviation", "split_sites", "compactness"]
    if args.stay_close:
        stages.insert(3, "moves")
    try:
        return Rules(
            band=SizeBand.from_string(args.band),
            rural_ccgs=frozenset(c for c in (args.rural or "").split(",") if c.strip()),
            rural_floor=args.rural_floor,
            big_may_merge=args.big_may_merge,
            keep_sites=args.keep_sites,
            stages=tuple(stages),
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _solve_options(args: argparse.Namespace) -> SolveOptions:
    try:
        return SolveOptions(
            time_limit_s=args.time_limit,
            proof_limit_s=args.proof_limit,
            workers=args.workers,
            processes=args.processes,
            seed=args.seed,
            params=args.params or "",
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None


def cmd_plan(args: argparse.Namespace) -> int:
    """Plan new PCNs per CCG and write plan.csv, pcns.geojson, summary.json (and maps)."""
    from tqdm import tqdm

    rules, options = _rules(args), _solve_options(args)
    practices, boundaries, graph = _load(args)
    lock = read_plan(args.lock, practices) if args.lock else None
    allow_cross = read_allow_cross(args.allow_cross) if args.allow_cross else None
    current = plan_from_practices(practices) if args.stay_close else None
    ccgs = sorted(practices["ccg_code"].unique())
    rural = frozenset(practices.index[practices["rural"]])
    start = time.perf_counter()
    with tqdm(total=len(ccgs), desc="plan", unit="CCG", disable=None, file=sys.stderr) as bar:

        def progress(result: CcgResult) -> None:
            bar.set_postfix_str(f"{result.ccg_code} {result.status.lower()}")
            bar.update(1)

        plan = solve_plan(
            graph,
            rules=rules,
            options=options,
            rural=rural,
            lock=lock,
            current=current,
            allow_cross=allow_cross,
            ccgs=ccgs,
            progress=progress,
        )
    seconds = time.perf_counter() - start
    out = _out_dir(args)
    write_plan(plan, out / "plan.csv", practices)
    areas = group_areas(plan, cells(graph), practices)
    areas["in_band"] = [rules.band.contains(s) for s in areas["list_size"]]
    with atomic_write(out / "pcns.geojson") as fh:
        fh.write(areas.reset_index().to_crs("EPSG:4326").to_json(drop_id=True))
    score = score_plan(
        plan,
        graph,
        band=rules.band,
        rural=rural,
        rural_floor=rules.rural_floor,
    )
    results = plan.info["ccgs"]
    unproven = sorted(c for c, r in results.items() if not r.stages[0].proven)
    summary = {
        "england": {
            "practices": len(plan),
            "groups": score.groups,
            "out_of_band": score.out_of_band,
            "in_band_share": round(score.in_band_share, 5),
            "deviation": score.deviation,
            "split_sites": score.split_sites,
            "compactness_km": round(score.compactness_km, 3),
            "ccgs": len(results),
            "ccgs_optimal": sum(r.status == "OPTIMAL" for r in results.values()),
            "stage1_unproven": unproven,
            "solve_seconds": round(seconds, 2),
        },
        "ccgs": {c: {"name": graph.graph["ccg_names"].get(c, c), **r.to_dict()} for c, r in results.items()},
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    for result in results.values():
        for pcn, why in result.explanations.items():
            print(f"{pcn}: {why}")
    optimal = sum(r.status == "OPTIMAL" for r in results.values())
    print(
        f"{len(results)} CCGs, {len(plan):,} practices in {score.groups:,} PCNs; "
        f"out of band {score.out_of_band} ({score.in_band_share:.2%} of patients in band); "
        f"buildings split {score.split_sites}; compactness {score.compactness_km:.2f} km; "
        f"stage 1 proven in {len(results) - len(unproven)}/{len(results)} CCGs; "
        f"{optimal} CCGs optimal in every stage; {seconds:.1f} s"
    )
    print(f"written {out / 'plan.csv'}, {out / 'pcns.geojson'}, {out / 'summary.json'}")
    if not args.no_maps:
        from footprint.render import band_problems, write_maps

        maps = args.maps if args.maps is not None else Path("maps")
        write_maps(
            practices,
            graph,
            plan,
            maps,
            boundaries=boundaries,
            current=plan_from_practices(practices),
            problems=band_problems(practices, plan, band=rules.band),
            ccgs=ccgs,
            band=rules.band,
        )
        print(f"maps written to {maps} (open {maps / 'index.html'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the ``footprint`` argument parser."""
    shared = _shared_options()
    parser = _Parser(
        prog="footprint",
        description="Plan Primary Care Network footprints for NHS England's GP practices.",
    )
    parser.add_argument("--version", action="version", version=f"footprint {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    graph = commands.add_parser(
        "graph", parents=[shared], help="build the graph of neighbouring practices and summarise it per CCG"
    )
    graph.set_defaults(func=cmd_graph)
    maps = commands.add_parser(
        "map",
        parents=[shared],
        help="write offline interactive maps (one per CCG), printable PCN pages and an index",
    )
    maps.add_argument(
        "plan",
        metavar="PLAN.csv",
        nargs="?",
        type=Path,
        help="plan to draw, given before --ccg (default: the current PCNs of the practices file)",
    )
    maps.add_argument("--maps", metavar="DIR", type=Path, help="folder for the HTML (default: maps/)")
    maps.add_argument(
        "--tiles",
        metavar="NAME",
        help="web map tiles under the areas, e.g. OpenStreetMap (needs the network; default none: offline)",
    )
    maps.add_argument(
        "--assets",
        choices=("inline", "beside"),
        default="inline",
        help="embed Leaflet in every page (default) or write it once into DIR/assets/",
    )
    maps.set_defaults(func=cmd_map)
    plan = commands.add_parser("plan", parents=[shared], help="plan new PCN footprints per CCG (CP-SAT)")
    rule = plan.add_argument_group("rules")
    rule.add_argument(
        "--band", default="30000,50000", metavar="LOW,HIGH", help="list-size band (default 30000,50000)"
    )
    rule.add_argument(
        "--rural", metavar="CCG,...", help="CCGs whose practices may form groups below the band"
    )
    rule.add_argument(
        "--rural-floor", type=int, default=20_000, metavar="N", help="rural groups' floor (20000)"
    )
    rule.add_argument(
        "--big-may-merge", action="store_true", help="let practices over the band absorb neighbours"
    )
    rule.add_argument("--keep-sites", action="store_true", help="never split practices of one building")
    rule.add_argument("--lock", type=Path, metavar="PLAN.csv", help="agreed groups that keep their members")
    rule.add_argument(
        "--allow-cross",
        type=Path,
        metavar="FILE",
        help="CSV practice_code,ccg_code: may join that CCG's network",
    )
    rule.add_argument(
        "--stay-close", action="store_true", help="prefer fewest practices moved from current PCNs"
    )
    solve = plan.add_argument_group("solver")
    solve.add_argument("--seed", type=int, default=0, help="CP-SAT random seed (default 0)")
    defaults = SolveOptions()
    solve.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="CP-SAT workers per CCG (%(default)s; stage 1 >= 2)",
    )
    solve.add_argument(
        "--processes", type=int, default=defaults.processes, help="CCGs solved at once (%(default)s)"
    )
    solve.add_argument(
        "--time-limit",
        type=float,
        default=defaults.time_limit_s,
        metavar="S",
        help="deterministic seconds per CCG for each stage after the first (%(default)s)",
    )
    solve.add_argument(
        "--proof-limit",
        type=float,
        default=defaults.proof_limit_s,
        metavar="S",
        help="deterministic seconds per CCG to prove the fewest out-of-band groups (%(default)s)",
    )
    solve.add_argument("--params", metavar="TEXT", help="raw CP-SAT parameters, e.g. 'linearization_level:2'")
    plan.add_argument("--no-maps", action="store_true", help="do not write the HTML maps")
    plan.add_argument("--maps", metavar="DIR", type=Path, help="folder for the HTML maps (default: maps/)")
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``footprint`` command line and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logger.addHandler(handler)
    logger.setLevel(level)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except FootprintError as exc:
        print(f"footprint: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("footprint: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
