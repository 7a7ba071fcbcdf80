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

from footprint.cli._common import (
    add_area_options,
    add_band_options,
    add_plan_argument,
    far_registrations_note,
    load,
    progress_bar,
    provenance,
    rules_from_args,
)
from footprint.config import Rules
from footprint.errors import DataError
from footprint.evaluate import FAR_KM, check_plan, group_problems, group_table
from footprint.places import display_name, group_names, read_places
from footprint.plan import Plan, aligned_groups, moved_practices, plan_from_practices, read_plan

if TYPE_CHECKING:
    from footprint.render import Overlay


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``map`` command."""
    parser = commands.add_parser(
        "map",
        parents=parents,
        help="write offline interactive maps (one per CCG), printable PCN pages and an index",
    )
    add_plan_argument(parser, verb="draw")
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
    add_area_options(parser)
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
    changes_from: tuple[str, Plan] | None = None,
    **options: Any,
) -> list[Path]:
    """Write the maps of ``plan`` with a progress bar; every command that draws maps calls this.

    ``options`` are :class:`footprint.render.MapOptions` fields; ``current`` may be given as
    a plan: it is drawn as the dashed layer of current PCNs, named in each practice's popup,
    and the practices that move from it to ``plan`` are drawn as the "Changes" overlay
    (before any overlays given). ``changes_from`` (a name and a plan, e.g. the plan a repair
    started from) measures the changes from that plan instead. ``provenance`` may hold
    nested mappings (as :func:`footprint.cli._common.provenance` returns); they are written
    out as text. PCNs are named (:func:`footprint.places.group_names`) and towns and
    villages labelled.
    """
    from footprint.render import MapOptions, write_maps  # folium loads only for commands that draw

    places = read_places()
    table = named_table(plan, practices, rules=rules, far_km=far_km, places=places)
    current = options.pop("current", None)
    overlays = list(options.pop("overlays", ()))
    if current is not None:
        current_table = named_table(current, practices, rules=rules, far_km=far_km, places=places)
        options["current"] = current_table
        if changes_from is None:
            overlays.insert(0, changes_overlay(current, plan, practices, current_table, table))
    if changes_from is not None:
        what, before = changes_from
        before_table = named_table(before, practices, rules=rules, far_km=far_km, places=places)
        overlays.insert(
            0, changes_overlay(before, plan, practices, before_table, table, name=f"Changes from {what}")
        )
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


def named_table(
    plan: Plan, practices: gpd.GeoDataFrame, *, rules: Rules, far_km: float, places: pd.DataFrame
) -> pd.DataFrame:
    """Return the plan's group table with its PCNs named (:func:`footprint.places.group_names`).

    A new network's name is marked ``(new)``, as every map and page shows it.
    """
    names = group_names(plan, practices, places=places)
    return group_table(plan, practices, rules=rules, far_km=far_km, names=names.shown)


def draw_compare(
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    plans: Mapping[str, Plan],
    out: Path,
    *,
    rules: Rules,
    far_km: float = FAR_KM,
    **options: Any,
) -> list[Path]:
    """Write one page per CCG with the maps of ``plans`` side by side, panned and zoomed together.

    Each plan is drawn as :func:`draw` draws one (named PCNs, problems, far-flung members,
    the current PCNs dashed when ``current`` is given as a plan), and on every map the
    practices whose group differs between the plans (:func:`footprint.plan.aligned_groups`)
    are ringed as the changes overlay, with a line to the centre of their group in that plan.
    """
    from footprint.render import Compared, MapOptions, write_compare_pages

    places = read_places()
    tables = {
        name: named_table(plan, practices, rules=rules, far_km=far_km, places=places)
        for name, plan in plans.items()
    }
    current = options.pop("current", None)
    if current is not None:
        options["current"] = named_table(current, practices, rules=rules, far_km=far_km, places=places)
    if options.get("provenance") is not None:
        options["provenance"] = _as_text(options["provenance"])
    options.setdefault("places", places)
    differ = aligned_groups(plans)
    differ = differ[differ["contested"] > 0]
    compared = [
        Compared(
            name=name,
            plan=plan,
            groups=tables[name],
            overlays=[differences_overlay(name, plans, tables, practices, list(differ.index))],
            problems=group_problems(tables[name]),
        )
        for name, plan in plans.items()
    ]
    with progress_bar("compare maps") as update:
        return write_compare_pages(
            practices,
            graph,
            compared,
            out,
            options=MapOptions(**options),
            progress=lambda done, total, ccg: update(done, total, ccg),
        )


def _label(frame: pd.DataFrame, pcn: str | None) -> str:
    if pcn is None:
        return "open (no PCN)"
    name = frame.at[pcn, "name"] if pcn in frame.index and "name" in frame.columns else None
    return f"{name} ({pcn})" if isinstance(name, str) and name else str(pcn)


def differences_overlay(
    name: str,
    plans: Mapping[str, Plan],
    tables: Mapping[str, pd.DataFrame],
    practices: gpd.GeoDataFrame,
    codes: Sequence[str],
) -> Overlay:
    """Return the changes overlay of plan ``name`` in a comparison: the practices in ``codes``.

    Each is ringed, its note names its group in every plan, and a line joins it to the
    list-weighted centre of its group in plan ``name``.
    """
    from footprint.render import Overlay, OverlayLine

    notes, lines = {}, []
    table = tables[name]
    for code in codes:
        notes[code] = "; ".join(
            f"{other}: {_label(tables[other], plan.assignment.get(code))}" for other, plan in plans.items()
        )
        pcn = plans[name].assignment.get(code)
        if pcn is not None and pcn in table.index and code in practices.index:
            point = practices.geometry.loc[code]
            centre = (float(table.at[pcn, "centre_x"]), float(table.at[pcn, "centre_y"]))
            who = display_name(practices.at[code, "practice_name"])
            tip = f"{who} ({code}) is in {_label(table, pcn)} in {name}"
            lines.append(OverlayLine(start=(point.x, point.y), end=centre, tip=tip, practice=code))
    return Overlay(
        name="Changes between the plans",
        legend="practice in different company in some plan (line to the centre of its PCN in this plan)",
        practices=notes,
        lines=lines,
        label="Groups",
        others="the same company in every plan",
    )


def changes_overlay(
    current: Plan,
    plan: Plan,
    practices: gpd.GeoDataFrame,
    current_table: pd.DataFrame,
    table: pd.DataFrame,
    *,
    name: str = "Changes from the current PCNs",
) -> Overlay:
    """Return the "Changes" overlay: each practice that moves (:func:`footprint.plan.moved_practices`).

    A moved practice is ringed, its popup says from which current PCN to which proposed one,
    and a line joins it to the list-weighted centre of the PCN it joins. The layer starts
    switched off (a plan may move dozens of practices); the popups say it either way.
    """
    from footprint.render import Overlay, OverlayLine

    notes, lines = {}, []
    for code, (before, after) in sorted(moved_practices(current, plan).items()):
        notes[code] = f"yes, from {_label(current_table, before)} to {_label(table, after)}"
        if after in table.index and code in practices.index:
            point = practices.geometry.loc[code]
            centre = (float(table.at[after, "centre_x"]), float(table.at[after, "centre_y"]))
            tip = f"{display_name(practices.at[code, 'practice_name'])} ({code}) joins {_label(table, after)}"
            lines.append(OverlayLine(start=(point.x, point.y), end=centre, tip=tip, practice=code))
    return Overlay(
        name=name,
        legend="practice that moves to another PCN (line to the centre of the PCN it joins)",
        practices=notes,
        lines=lines,
        label="Moves",
        others="no",
        show=False,  # switched on from the layer switcher; each practice's popup says whether it moves
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


def _network_areas(
    args: argparse.Namespace,
    plan: Plan,
    practices: pd.DataFrame,
    boundaries: gpd.GeoDataFrame,
    graph: nx.Graph,
) -> gpd.GeoDataFrame:
    """Return the plan's network areas from where patients live, drawn beside the cells."""
    from footprint.areas import AreaSources, network_areas

    far_registrations_note(args, practices)
    return network_areas(
        plan,
        practices,
        boundaries=boundaries,
        ccgs=args.ccg,
        sources=AreaSources(lsoas=args.lsoa_boundaries, registrations=args.lsoa_registrations),
        cells=graph.graph.get("cells"),
        use_cache=not args.no_cache,
    ).areas


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
    graph.graph["areas"] = _network_areas(args, plan, practices, boundaries, graph)
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
