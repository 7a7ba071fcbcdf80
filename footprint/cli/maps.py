"""``footprint map``: offline interactive maps per CCG, printable PCN pages and an index."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import pandas as pd

from footprint.cli._common import add_band_options, load, progress_bar, provenance, rules_from_args
from footprint.config import Rules
from footprint.errors import DataError
from footprint.evaluate import FAR_KM, check_plan, group_problems, group_table
from footprint.places import group_names, read_places
from footprint.plan import Plan, moved_practices, plan_from_practices, read_plan

if TYPE_CHECKING:
    from footprint.render import Overlay


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
        help="web map tiles under the areas, e.g. OpenStreetMap (needs the network where the maps are "
        "opened; default none: offline, with town and village names drawn from GeoNames)",
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
    far_km: float = FAR_KM,
    **options: Any,
) -> list[Path]:
    """Write the maps of ``plan`` with a progress bar; every command that draws maps calls this.

    ``options`` are :class:`footprint.render.MapOptions` fields; ``current`` may be given as
    a plan: it is drawn as the dashed layer of current PCNs, named in each practice's popup,
    and the practices that move from it to ``plan`` are drawn as the "Changes" overlay
    (before any overlays given). ``provenance`` may hold nested mappings (as
    :func:`footprint.cli._common.provenance` returns); they are written out as text. PCNs
    are named (:func:`footprint.places.group_names`) and towns and villages labelled.
    """
    from footprint.render import MapOptions, write_maps  # folium loads only for commands that draw

    places = read_places()
    names = group_names(plan, practices, places=places)
    table = group_table(plan, practices, rules=rules, far_km=far_km, names=names)
    current = options.pop("current", None)
    overlays = list(options.pop("overlays", ()))
    if current is not None:
        current_table = group_table(
            current,
            practices,
            rules=rules,
            far_km=far_km,
            names=group_names(current, practices, places=places),
        )
        options["current"] = current_table
        overlays.insert(0, changes_overlay(current, plan, practices, current_table, table))
    if options.get("provenance") is not None:
        options["provenance"] = _as_text(options["provenance"])
    options.setdefault("places", places)
    options.setdefault("processes", max(1, min(os.cpu_count() or 1, 4)))
    with progress_bar("maps") as update:
        return write_maps(
            practices,
            graph,
            plan,
            out,
            groups=table,
            problems={**group_problems(table), **(problems or {})},
            options=MapOptions(overlays=overlays, **options),
            progress=lambda done, total, ccg: update(done, total, ccg),
        )


def changes_overlay(
    current: Plan,
    plan: Plan,
    practices: gpd.GeoDataFrame,
    current_table: pd.DataFrame,
    table: pd.DataFrame,
) -> Overlay:
    """Return the "Changes" overlay: each practice that moves (:func:`footprint.plan.moved_practices`).

    A moved practice is ringed, its popup says from which current PCN to which proposed one,
    and a line joins it to the list-weighted centre of the PCN it joins.
    """
    from footprint.render import Overlay, OverlayLine

    def label(frame: pd.DataFrame, pcn: str) -> str:
        name = frame.at[pcn, "name"] if pcn in frame.index else None
        return f"{name} ({pcn})" if isinstance(name, str) and name else str(pcn)

    notes, lines = {}, []
    for code, (before, after) in sorted(moved_practices(current, plan).items()):
        notes[code] = f"yes, from {label(current_table, before)} to {label(table, after)}"
        if after in table.index:
            point = practices.geometry.loc[code]
            centre = (float(table.at[after, "centre_x"]), float(table.at[after, "centre_y"]))
            tip = f"{practices.at[code, 'practice_name']} ({code}) joins {label(table, after)}"
            lines.append(OverlayLine(start=(point.x, point.y), end=centre, tip=tip))
    return Overlay(
        name="Changes from the current PCNs",
        legend="practice that moves to another PCN (line to the centre of the PCN it joins)",
        practices=notes,
        lines=lines,
        label="Moves",
        others="no",
    )


def _as_text(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Return the provenance with nested options written out as ``key value; ...`` text."""
    out = {}
    for key, value in provenance.items():
        if isinstance(value, Mapping):
            value = "; ".join(f"{k} {v}" for k, v in value.items()) or "defaults"
        out[str(key).replace("_", " ")] = str(value)
    return out


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


def _say_far(
    plan: Plan, practices: gpd.GeoDataFrame, ccgs: Sequence[str] | None, *, rules: Rules, far_km: float
) -> None:
    """Say which drawn practices lie more than ``far_km`` from their PCN's list-weighted centre."""
    table = group_table(plan, practices, rules=rules, far_km=far_km)
    wanted = {c.upper() for c in ccgs} if ccgs else None
    far = []
    for pcn, row in table.iterrows():
        for code in row["far_members"]:
            if wanted is None or practices.at[code, "ccg_code"] in wanted:
                point = practices.geometry.loc[code]
                km = ((point.x - row["centre_x"]) ** 2 + (point.y - row["centre_y"]) ** 2) ** 0.5 / 1000
                far.append((km, code, pcn))
    if far:
        far.sort(reverse=True)
        some = ", ".join(f"{code} ({km:.0f} km from {pcn})" for km, code, pcn in far[:5])
        print(
            f"note: {len(far)} practice(s) more than {far_km:g} km from their PCN's list-weighted centre, "
            f"ringed on the maps as far-flung: {some}{' ...' if len(far) > 5 else ''}"
        )


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
        far_km=args.far_km,
        boundaries=boundaries,
        current=beside,
        ccgs=args.ccg,
        name=name,
        tiles=args.tiles,
        assets=args.assets,
        provenance=provenance(args, practices),
    )
    _say_far(plan, practices, args.ccg, rules=rules, far_km=args.far_km)
    maps = [p for p in paths if p.suffix == ".html" and not p.name.endswith(("-pcns.html", "index.html"))]
    largest = max(maps, key=lambda p: p.stat().st_size)
    print(
        f"{name}: {len(maps)} CCG maps with printable PCN pages written to {out} "
        f"(largest {largest.name}, {largest.stat().st_size / 1e6:.1f} MB); open {out / 'index.html'}"
    )
    return 0
