"""The site: an overview of every PCN (:func:`overview_map`), the index page and :func:`write_maps`."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import folium
import geopandas as gpd
import networkx as nx
import pandas as pd

from footprint._pool import imap_unordered
from footprint.load import select_ccgs
from footprint.places import display_name
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    COLOURS,
    ENV,
    GroupRow,
    Links,
    MapOptions,
    Overlay,
    anchors,
    check_groups,
    check_inputs,
    colour_groups,
    fragment,
    group_rows,
    write_text,
)
from footprint.render.assets import write_assets
from footprint.render.ccg_map import TOLERANCE_M as CCG_MAP_TOLERANCE_M
from footprint.render.ccg_map import (
    Scene,
    draw_ccg_lines,
    draw_land,
    draw_scene,
    legend_html,
    status_rows,
    towns_of,
)
from footprint.render.elements import (
    ON_EACH_FEATURE,
    Raw,
    Ui,
    add_panel,
    keep_order,
    new_map,
    page_html,
    root,
)
from footprint.render.pages import TOLERANCE_M as PAGES_TOLERANCE_M
from footprint.render.pages import pages_html

logger = logging.getLogger(__name__)

#: Simplification of the overview's areas and boundaries, in metres, unless the options say.
TOLERANCE_M = 250.0


def overview_map(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    groups: pd.DataFrame,
    options: MapOptions | None = None,
    links: Links | None = None,
    width: str = "100%",
    summary: bool = True,
) -> folium.Map:
    """Draw every PCN of ``practices`` at generalised resolution, e.g. for all of England.

    Parameters
    ----------
    practices, plan, graph, groups
        As for :func:`~footprint.render.plan_map`.
    options
        As for :func:`~footprint.render.plan_map` (``current`` is not drawn); the default
        simplification is 250 m, which keeps the page small for all of England.
    links
        ``ccg_maps``: CCG code to the address of its map.
    width
        Width of the map on its page (CSS), e.g. ``"62%"`` beside a list.
    summary
        Whether the map holds the summary panel (the index page gives it beside the map).

    Returns
    -------
    folium.Map
        Layers "<name>" (PCN areas with a tooltip and a popup each) and "CCG boundaries"
        (each linking to its CCG's map).

    Raises
    ------
    DataError
        As for :func:`~footprint.render.plan_map`.
    """
    options = options or MapOptions()
    maps = (links or Links()).ccg_maps
    check_inputs(practices, graph)
    plan = plan.restrict(practices.index)
    colours = dict(options.colours) if options.colours is not None else colour_groups(graph, plan)
    rows = group_rows(practices, plan, groups, colours)
    tolerance = options.tolerance(TOLERANCE_M)
    view = geo.view(practices, options.boundaries)
    m = new_map(
        view,
        tiles=options.tiles,
        assets=options.assets or "inline",
        title=options.title,
        width=width,
        padding=OVERVIEW_PADDING,
    )
    ccg_codes = sorted(practices["ccg_code"].unique())
    shapes = None
    if options.boundaries is not None:
        own = options.boundaries[options.boundaries.index.isin(ccg_codes)]
        shapes = geo.ccg_shapes(own, within=None, tolerance_m=tolerance)
        if options.tiles is None:
            draw_land(m, shapes, ccg_codes, decimals=4)
    areas, open_sites = geo.areas(practices, plan, graph.graph["cells"], tolerance_m=tolerance)
    geoms, props = [], []
    for pcn, group in rows.items():
        if pcn not in areas:
            continue
        geoms.append(areas[pcn])
        ccg_links = [(c, maps[c]) for c in group.ccgs if c in maps]
        props.append(
            {
                "tip": fragment("popups.html", "overview_tip", group=group),
                "popup": fragment("popups.html", "overview_popup", group=group, maps=ccg_links),
                "style": {
                    "color": COLOURS["line"],
                    "weight": 0.6,
                    "fillColor": group.colour,
                    "fillOpacity": 0.65,
                },
            }
        )
    for geom in open_sites.values():
        geoms.append(geom)
        props.append(
            {
                "style": {
                    "color": COLOURS["line"],
                    "weight": 0.6,
                    "fillColor": COLOURS["open"],
                    "fillOpacity": 0.65,
                }
            }
        )
    areas_layer = folium.GeoJson(
        geo.features(geoms, props, decimals=4),
        name=options.name,
        on_each_feature=ON_EACH_FEATURE,
        className="fp-area",
    )
    areas_layer.add_to(m)
    layers = [areas_layer]
    if options.boundaries is not None and shapes is not None:
        names = {**options.boundaries["ccg_name"].astype(str).to_dict(), **graph.graph.get("ccg_names", {})}
        layers.append(draw_ccg_lines(m, shapes, (), names=names, links=maps, decimals=4))
    keep_order(m, layers)
    heading = options.title or options.name
    if summary:
        add_panel(
            m,
            fragment("panels.html", "overview_summary", heading=heading, rows=summary_rows(practices, rows)),
            position="bottomleft",
            kind="summary",
        )
    legend = legend_html(current=False, problems=False, markers=False, options=options)
    add_panel(m, legend, position="bottomright", kind="legend")
    Ui(f"Map of {heading}: click a CCG or a PCN to open its map").add_to(m)  # before the layer switcher
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


#: Pixels the overview keeps clear around England when it opens (top left, bottom right):
#: the south coast stays above the legend's heading and the credit.
OVERVIEW_PADDING = ((10, 10), (10, 64))


def summary_rows(practices: pd.DataFrame, rows: Mapping[str, GroupRow]) -> list[tuple[str, str]]:
    """Return the overview's summary: CCGs, practices, patients, PCNs by band and clinical directors."""
    return [
        ("CCGs", f"{practices['ccg_code'].nunique():,}"),
        ("Practices", f"{len(practices):,}"),
        ("Patients", f"{int(practices['list_size'].sum()):,}"),
        *status_rows(rows),
        ("Funded clinical directors", f"{sum(g.cd_wte for g in rows.values()):.1f} WTE"),
    ]


#: The England search index :func:`write_maps` writes beside the maps, read by every finder.
SEARCH_FILE = "practices-index.js"


def search_index(
    practices: pd.DataFrame, *, ccg_names: Mapping[str, str], places: pd.DataFrame | None = None
) -> str:
    """Return the England search index, a script: ``window.fpEngland = {ccgs, practices}``.

    ``practices`` rows are ``[code, name, postcode, CCG, "place, town"]`` in name order
    (names as :func:`footprint.places.display_name` shows them), ``ccgs`` CCG code to name.
    Every map's finder and the index page's read it, so a practice is found from any page.
    """
    towns = towns_of(practices, places)
    found = sorted(
        (
            [str(code), display_name(name), str(postcode), str(ccg), towns.get(code, "")]
            for code, name, postcode, ccg in zip(
                practices.index,
                practices["practice_name"],
                practices["postcode"],
                practices["ccg_code"],
                strict=True,
            )
        ),
        key=lambda row: (row[1], row[0]),
    )
    codes = sorted(practices["ccg_code"].astype(str).unique())
    data = {"ccgs": {c: str(ccg_names.get(c, c)) for c in codes}, "practices": found}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"window.fpEngland = {text};\n"


def _index_html(
    wanted: gpd.GeoDataFrame,
    plan: Plan,
    groups: pd.DataFrame,
    names: Mapping[str, str],
    maps: Mapping[str, tuple[str, str]],
    *,
    summary: list[tuple[str, str]],
    heading: str,
    earlier: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Return the index's head (finder, summary) and list of CCG maps (in band as the group table says).

    CCGs are listed under their ICB (the practices' ``icb_code``, else ``stp_code``), each
    ICB headed by its totals, where the practices name one.
    """
    icb, icb_name = _icb_columns(wanted)
    rows = []
    for ccg, frame in wanted.groupby("ccg_code", sort=True):
        own = {p for c in frame.index if (p := plan.assignment.get(c)) is not None}
        link, pack = maps.get(ccg, ("", ""))
        rows.append(
            {
                "ccg": ccg,
                "name": names.get(ccg, ccg),
                "map": link,
                "pages": pack,
                "practices": len(frame),
                "patients": int(frame["list_size"].sum()),
                "pcns": len(own),
                "in_band": int(groups.loc[sorted(own), "in_band"].sum()) if own else 0,
                "icb": str(frame[icb].mode().iloc[0]) if icb else "",
                "icb_name": str(frame[icb_name].mode().iloc[0]) if icb_name else "",
            }
        )
    rows.sort(key=lambda r: (r["icb"], r["ccg"]))
    icbs = [
        {
            "icb": code,
            "name": next(r["icb_name"] for r in mine) or code,
            "ccgs": len(mine),
            **{k: sum(r[k] for r in mine) for k in ("practices", "patients")},
        }
        for code, mine in (
            (c, [r for r in rows if r["icb"] == c]) for c in dict.fromkeys(r["icb"] for r in rows)
        )
    ]
    earlier_rows = [{"ccg": c, "name": names.get(c, c), "when": w} for c, w in (earlier or {}).items()]
    head = fragment("panels.html", "index_head", summary=summary, heading=heading)
    listed = fragment(
        "panels.html",
        "index_list",
        rows=rows,
        count=len(maps),
        earlier=earlier_rows,
        icbs=icbs if icb else [],
    )
    return head, listed


def overlay_sections(
    overlays: Iterable[Overlay], maps: Mapping[str, tuple[str, str]], names: Mapping[str, str]
) -> str:
    """Return the index's section of each overlay with figures per CCG (:attr:`Overlay.summary`).

    One row per CCG written, its map linked; a figure the same in every CCG (e.g. how distances
    are measured) is said once above the table instead of in a column.
    """
    parts = []
    for overlay in overlays:
        if not overlay.summary and not overlay.links:
            continue
        given = {c: dict(overlay.summary.get(c, ())) for c in maps}
        headers = list(dict.fromkeys(k for rows in given.values() for k in rows))
        same = [
            (h, next(iter(values)))
            for h in headers
            if len(given) > 1 and len(values := {given[c].get(h, "") for c in given}) == 1
        ]
        headers = [h for h in headers if h not in dict(same)]
        rows = [
            {
                "ccg": c,
                "name": names.get(c, c),
                "map": maps[c][0],
                "values": [given[c].get(h, "") for h in headers],
            }
            for c in sorted(given)
        ]
        parts.append(
            fragment("overlay.html", "index_section", overlay=overlay, headers=headers, rows=rows, same=same)
        )
    return "".join(parts)


def _icb_columns(practices: pd.DataFrame) -> tuple[str | None, str | None]:
    """Return the columns naming each practice's ICB and the ICB's name (2022: the STP), if any."""
    for code, name in (("icb_code", "icb_name"), ("stp_code", "stp_name")):
        if code in practices.columns:
            return code, name if name in practices.columns else None
    return None, None


def _with_partners(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    codes: Iterable[str],
    groups: Mapping[str, frozenset[str]] | None = None,
) -> gpd.GeoDataFrame:
    """Return the practices ``codes`` and every other member of their PCNs (``groups``: the plan's)."""
    keep = set(codes)
    groups = plan.groups if groups is None else groups
    pcns = {p for code in keep if (p := plan.assignment.get(code)) is not None}
    keep.update(c for pcn in pcns for c in groups[pcn])
    return practices.loc[practices.index.isin(keep)]


def write_maps(
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    groups: pd.DataFrame,
    problems: Mapping[str, str] | None = None,
    options: MapOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write one map and one printable pack per CCG, and an index page, into ``out_dir``.

    Files (each written atomically): ``<CCG>.html`` (the map of :func:`plan_map`),
    ``<CCG>-pcns.html`` (the pages of :func:`pcn_pages`), ``practices-index.js`` (the England
    search index of :func:`search_index`, read by every page's finder: the practices of the
    CCGs written and of the maps already in the folder), ``index.html`` (the finder, England's
    figures and every CCG listed and linked, beside :func:`overview_map`), and with
    ``assets="beside"`` Leaflet in ``assets/``. A CCG's map and pages hold every PCN with a
    member in the CCG, whole, so a PCN that crosses a CCG boundary shows its true total.

    Parameters
    ----------
    practices
        Every practice (EPSG:27700): PCNs that cross a CCG boundary need their members
        of other CCGs.
    graph
        The adjacency graph of ``practices``.
    plan
        The plan to draw.
    out_dir
        The folder to write, created if needed (the command line's default is ``maps/``).
    groups
        The plan's group table (``footprint.evaluate.group_table(plan, practices, rules=...)``).
    problems
        Practice code to the problem to show (see :func:`plan_map`).
    options
        As for :func:`plan_map`; ``ccgs`` limits the CCGs written, ``assets`` defaults to
        ``"inline"``, and each page's title is made from the CCG and ``name``.
    progress
        Called with (done, total, CCG code) after each CCG.

    Returns
    -------
    list of pathlib.Path
        The files written: the search index and the index page last.

    Raises
    ------
    DataError
        If a CCG code names no practice, the graph was built from other practices or the
        group table lacks a PCN of the plan.
    """
    options = options or MapOptions()
    options = dataclasses.replace(options, assets=options.assets or "inline")
    check_inputs(practices, graph)
    out = Path(out_dir)
    wanted = select_ccgs(practices, options.ccgs)
    full = plan.restrict(practices.index)
    check_groups(groups, full.groups)
    if options.colours is None:
        options = dataclasses.replace(options, colours=colour_groups(graph, full))
    # Areas only of the CCGs drawn (those of the practices asked for and of their PCNs' other
    # members), each CCG whole: its areas are simplified together, as in a run of all England.
    drawn = set(_with_partners(practices, full, wanted.index)["ccg_code"])
    shapes = geo.Shapes(
        practices[practices["ccg_code"].isin(drawn)], full, graph.graph["cells"], options.boundaries
    )
    for tolerance in {options.tolerance(MAP_TOLERANCE_M), options.tolerance(PAGE_TOLERANCE_M)}:
        shapes.areas(tolerance)  # simplified once, before any process forks
        shapes.ccg_shapes(tolerance, within=None)
    written: list[Path] = write_assets(out) if options.assets == "beside" else []
    codes = sorted(wanted["ccg_code"].unique())
    maps = {ccg: (f"{ccg}.html", f"{ccg}-pcns.html") for ccg in codes}
    earlier = _earlier_maps(out, set(codes))
    # One England search index for every page: the practices of the maps this run writes and
    # of those already in the folder (linked from the index as earlier maps).
    indexed = practices[practices["ccg_code"].isin(set(codes) | set(earlier))]
    names = graph.graph.get("ccg_names", {})
    if options.boundaries is not None and "ccg_name" in options.boundaries.columns:
        names = {**options.boundaries["ccg_name"].astype(str).to_dict(), **names}
    index_script = search_index(indexed, ccg_names=names, places=options.places)
    job = _Job(
        practices=practices,
        wanted=wanted,
        graph=graph,
        plan=full,
        groups=groups,
        problems=dict(problems or {}),
        options=options,
        shapes=shapes,
        out=out,
        maps=maps,
        earlier=earlier,
    )
    # The index is drawn first (the longest task), then CCGs from the largest, so the processes
    # end together; it is written last, once every map it links to is there.
    tasks = ["", *sorted(codes, key=lambda c: (-int((wanted["ccg_code"] == c).sum()), c))]
    done: dict[str, list[Path]] = {}
    index = ""
    for i, (task, result) in enumerate(_run(job, tasks), 1):
        if isinstance(result, str):
            index = result
            continue
        done[task] = result
        if progress is not None:
            progress(min(i, len(codes)), len(codes), task)
    written += [p for ccg in codes for p in done[ccg]]
    written.append(write_text(out / SEARCH_FILE, index_script))  # once the maps it links to are there
    written.append(write_text(out / "index.html", index))
    logger.info("wrote %d CCG maps and %s", len(maps), written[-1])
    return written


#: A CCG map's file name (``<CCG>.html``; not a printable pack or the index).
_MAP_FILE = re.compile(r"^([A-Z0-9]{3,5})\.html$")


def _earlier_maps(out: Path, codes: set[str]) -> dict[str, str]:
    """Return the CCG maps in ``out`` that this run does not write, with when they were written.

    A run writes only its own CCGs' files and leaves the others; the index lists those as
    maps from an earlier run (perhaps of another plan), so they are never taken for this one.
    """
    if not out.is_dir():
        return {}
    found = {}
    for path in sorted(out.iterdir()):
        match = _MAP_FILE.match(path.name)
        if match and match.group(1) not in codes:
            found[match.group(1)] = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    return found


#: Simplification of CCG maps and printable pages unless the options say (as their modules).
MAP_TOLERANCE_M = CCG_MAP_TOLERANCE_M
PAGE_TOLERANCE_M = PAGES_TOLERANCE_M


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Job:
    """Everything the pages of one :func:`write_maps` call are drawn from (shared by its processes)."""

    practices: gpd.GeoDataFrame
    wanted: gpd.GeoDataFrame
    graph: nx.Graph
    plan: Plan
    groups: pd.DataFrame
    problems: Mapping[str, str]
    options: MapOptions
    shapes: geo.Shapes
    out: Path
    maps: Mapping[str, tuple[str, str]]
    #: Maps of other CCGs already in the folder, from earlier runs: CCG code to when written.
    earlier: Mapping[str, str]


#: The job of the running :func:`write_maps`, read by its forked processes (never pickled).
_JOB: list[_Job] = []


def _run(job: _Job, tasks: list[str]) -> Iterator[tuple[str, list[Path] | str]]:
    """Yield each task's files as it finishes, in ``job.options.processes`` forked processes."""
    processes = min(job.options.processes, len(tasks))
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for task in tasks:
            yield task, _write_task(job, task)
        return
    _JOB[:] = [job]
    try:
        forked = imap_unordered(
            _forked_pair, tasks, processes=processes, context=multiprocessing.get_context("fork")
        )
        yield from forked
    finally:
        _JOB.clear()


def _forked_pair(task: str) -> tuple[str, list[Path] | str]:
    return task, _write_task(_JOB[0], task)


def _write_task(job: _Job, task: str) -> list[Path] | str:
    """Return the index page's HTML (task ``""``), or write one CCG's map and pages and return them."""
    if not task:
        return _index_page(job)
    ccg, options, names = task, job.options, job.graph.graph.get("ccg_names", {})
    shown = _with_partners(
        job.practices, job.plan, job.wanted.index[job.wanted["ccg_code"] == ccg], job.shapes.groups
    )
    ccg_plan = job.plan.restrict(shown.index)
    map_file, pack_file = job.maps[ccg]
    title = f"{names.get(ccg, ccg)} ({ccg}): {options.name}"
    scene = Scene(
        practices=shown,
        plan=ccg_plan,
        graph=job.graph,
        groups=job.groups,
        problems=job.problems,
        options=dataclasses.replace(options, title=title),
        links=Links(
            pcn_pages={p: f"{pack_file}#{a}" for p, a in anchors(ccg_plan.groups).items()},
            index="index.html",
            search=SEARCH_FILE,
        ),
        shapes=job.shapes,
        ccg=ccg,
    )
    m = draw_scene(scene)
    pages = pages_html(
        shown,
        ccg_plan,
        graph=job.graph,
        groups=job.groups,
        shapes=job.shapes,
        options=dataclasses.replace(options, title=f"{title}: PCN pages"),
        links=Links(back=map_file),
    )
    written = [write_text(job.out / map_file, page_html(m)), write_text(job.out / pack_file, pages)]
    logger.info("wrote %s (%.2f MB) and %s", written[0], written[0].stat().st_size / 1e6, pack_file)
    return written


def _index_page(job: _Job) -> str:
    options = job.options
    names = job.graph.graph.get("ccg_names", {})
    shown = _with_partners(job.practices, job.plan, job.wanted.index)
    plan = job.plan.restrict(shown.index)
    heading = f"PCN maps: {options.name}"
    overview = overview_map(
        shown,
        plan,
        graph=job.graph,
        groups=job.groups,
        options=dataclasses.replace(options, title=heading),
        links=Links(ccg_maps={c: files[0] for c, files in job.maps.items()}),
        width="62%",
        summary=False,
    )
    figure = root(overview)
    css = ENV.get_template("index.css").render()
    figure.header.add_child(Raw(f"<style>{css}</style>"), name="footprint_index_css")
    figure.header.add_child(Raw(f'<script src="{SEARCH_FILE}"></script>'), name="fp_search_index")
    rows = group_rows(shown, plan, job.groups, {})
    head, listed = _index_html(
        job.wanted,
        job.plan,
        job.groups,
        names,
        job.maps,
        summary=summary_rows(shown, rows),
        heading="England" if job.options.ccgs is None else "These CCGs",
        earlier=job.earlier,
    )
    sharing = overlay_sections(options.overlays, job.maps, names)
    if sharing:  # e.g. the shared clinical directors: their figures per CCG above the list of maps
        listed = listed.replace(
            '<div class="fp-index fp-index-list">', '<div class="fp-index fp-index-list">' + sharing, 1
        )
    figure.html.add_child(Raw(head + listed), name="fp_index")
    figure.html._children.move_to_end("fp_index", last=False)  # the finder first in tab order
    return page_html(overview)
