"""``footprint map``: offline interactive maps per CCG, printable PCN pages and an index."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx

from footprint.cli._common import add_band_options, load, progress_bar, rules_from_args
from footprint.config import Rules
from footprint.errors import DataError
from footprint.evaluate import check_plan, group_problems, group_table
from footprint.plan import Plan, plan_from_practices, read_plan


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``map`` command."""
    parser = commands.add_parser(
        "map",
        parents=parents,
        help="write offline interactive maps (one per CCG), printable PCN pages and an index",
    )
    parser.add_argument(
        "plan",
        metavar="PLAN.csv",
        nargs="?",
        type=Path,
        help="plan to draw, given before --ccg (default: the current PCNs of the practices file)",
    )
    parser.add_argument("--maps", metavar="DIR", type=Path, help="folder for the HTML (default: maps/)")
    parser.add_argument(
        "--tiles",
        metavar="NAME",
        help="web map tiles under the areas, e.g. OpenStreetMap (needs the network; default none: offline)",
    )
    parser.add_argument(
        "--assets",
        choices=("inline", "beside"),
        default="inline",
        help="embed Leaflet in every page (default) or write it once into DIR/assets/",
    )
    add_band_options(parser)
    parser.set_defaults(func=run)


def draw(
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    plan: Plan,
    out: Path,
    *,
    rules: Rules,
    problems: Mapping[str, str] | None = None,
    **options: Any,
) -> list[Path]:
    """Write the maps of ``plan`` with a progress bar; every command that draws maps calls this.

    ``options`` are :class:`footprint.render.MapOptions` fields; ``current`` may be given as
    a plan, drawn as the dashed layer of current PCNs.
    """
    from footprint.render import MapOptions, write_maps  # folium loads only for commands that draw

    table = group_table(plan, practices, rules=rules)
    current = options.pop("current", None)
    if current is not None:
        options["current"] = group_table(current, practices, rules=rules)
    with progress_bar("maps") as update:
        return write_maps(
            practices,
            graph,
            plan,
            out,
            groups=table,
            problems={**group_problems(table), **(problems or {})},
            options=MapOptions(**options),
            progress=lambda done, total, ccg: update(done, total, ccg),
        )


def _folder(args: argparse.Namespace) -> Path:
    """Return the maps folder: ``--maps``, else ``--out``, else ``maps/``."""
    if args.maps is not None and args.out is not None and args.maps != args.out:
        msg = f"--maps {args.maps} and --out {args.out} both name the maps folder: give one"
        raise DataError(msg)
    return args.maps or args.out or Path("maps")


def _say_what_is_drawn(plan: Plan, graph: nx.Graph, ccgs: Sequence[str] | None) -> None:
    """Refuse a plan with no PCN; say when it leaves practices open or crosses CCG lines."""
    if not plan.groups:
        msg = "the plan gives no practice a PCN (every pcn_id is blank): nothing to draw"
        raise DataError(msg)
    wanted = {c.upper() for c in ccgs} if ccgs else None
    codes = [c for c, ccg in graph.nodes(data="ccg_code") if wanted is None or ccg in wanted]
    assigned = plan.restrict(codes)
    open_count = len(codes) - len(assigned) + len(assigned.open_practices)
    if open_count:
        print(f"note: {open_count:,} of {len(codes):,} practices have no PCN in the plan: drawn as open")
    crossing = [str(v.pcn_id) for v in check_plan(plan.restrict(codes), graph) if v.rule == "ccg"]
    if crossing:
        print(f"note: {len(crossing)} PCN(s) cross a CCG line: {', '.join(crossing[:10])}")


def run(args: argparse.Namespace) -> int:
    """Write an offline interactive map and printable PCN pages per CCG, and an index page."""
    rules = rules_from_args(args)
    # PCNs that cross a CCG boundary need their members in other CCGs: load every practice.
    practices, boundaries, graph = load(args, all_ccgs=True)
    plan = current = plan_from_practices(practices)
    name, beside = "Current PCNs", None  # beside: the current PCNs as a layer under a proposed plan
    if args.plan is not None:
        plan, name = read_plan(args.plan, practices), "Proposed plan"
        beside = current if current.groups else None
    _say_what_is_drawn(plan, graph, args.ccg)
    out = _folder(args)
    paths = draw(
        practices,
        graph,
        plan,
        out,
        rules=rules,
        boundaries=boundaries,
        current=beside,
        ccgs=args.ccg,
        name=name,
        tiles=args.tiles,
        assets=args.assets,
    )
    maps = [p for p in paths if p.suffix == ".html" and not p.name.endswith(("-pcns.html", "index.html"))]
    largest = max(maps, key=lambda p: p.stat().st_size)
    print(
        f"{name}: {len(maps)} CCG maps with printable PCN pages written to {out} "
        f"(largest {largest.name}, {largest.stat().st_size / 1e6:.1f} MB); open {out / 'index.html'}"
    )
    return 0
