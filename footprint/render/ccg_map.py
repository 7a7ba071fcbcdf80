"""A CCG's interactive map of a plan (:func:`plan_map`) and its layers.

This module builds the map's scene (:class:`Scene`, the practices' :func:`records`) and
draws it layer by layer (:func:`draw_scene`), with the summary and legend panels. The
layers themselves are drawn in ``_map_layers``, and the practices' popups written in
``_practice_popup``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import pandas as pd
import shapely
from markupsafe import Markup

from footprint.places import display_name
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._area_layer import draw_area_layer
from footprint.render._base import (
    GroupRow,
    Links,
    MapOptions,
    Overlay,
    check_inputs,
    colour_groups,
    data_date,
    fragment,
    group_rows,
    provenance_rows,
    status_counts,
)
from footprint.render._clear_view import ClearView, ccg_box
from footprint.render._map_layers import (
    _draw_areas,
    _draw_current,
    _draw_edges,
    _draw_far,
    _draw_hatch,
    _draw_overlay,
    _draw_places,
    _draw_practices,
    _draw_problems,
    draw_ccg_lines,
    draw_land,
    radius,
)
from footprint.render._practice_popup import _context, towns_of
from footprint.render.elements import Finder, Ui, add_panel, keep_order, new_map, use_offline_assets

logger = logging.getLogger(__name__)

#: Simplification of a CCG map's areas and boundaries, in metres, unless the options say.
TOLERANCE_M = 50.0


def plan_map(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    groups: pd.DataFrame,
    problems: Mapping[str, str] | None = None,
    m: folium.Map | None = None,
    options: MapOptions | None = None,
    links: Links | None = None,
    **style_kwds: Any,
) -> folium.Map:
    """Draw a plan of ``practices`` on an interactive map that opens with no network.

    Parameters
    ----------
    practices
        The practices to draw (EPSG:27700, indexed by code), e.g. one CCG's.
    plan
        Practice code to PCN id; practices it leaves open are drawn grey.
    graph
        The adjacency graph built from these practices (or more): its cells give the areas,
        its edges the neighbours and the adjacency layer.
    groups
        The plan's group table (``footprint.evaluate.group_table(plan, practices, rules=...)``):
        every figure shown about a PCN (total, band verdict, centre, funded clinical-director
        time) is read from it. It must hold every PCN of the plan drawn.
    problems
        Practice code to a description of its problem (e.g. ``group_problems(groups)``):
        these practices are ringed in red in their own layer and their popups say why.
        Codes of other practices are ignored.
    m
        A map to draw on (made offline by this function when ``options.assets`` is given);
        default a new one. Give ``options.tiles`` only when making a new map.
    options
        What to draw besides the plan (``boundaries``, ``current``) and how (see
        :class:`MapOptions`).
    links
        The printable page of each PCN and the index page (see :class:`Links`).
    **style_kwds
        Leaflet path options of the PCN areas (``weight``, ``opacity``, ``fill_opacity``).

    Returns
    -------
    folium.Map
        The map, with layers "<name>", "CCG boundaries", "Current PCNs", "Neighbour links
        (bridges dashed)", "Practices" and "Practices with a problem (N)" (those with data),
        a practice finder, a legend and a summary panel.

    Raises
    ------
    DataError
        If the practices are not in EPSG:27700, the graph was built from others or the
        group table lacks a PCN of the plan.
    TypeError
        If ``tiles`` are given with ``m``, or a style option clashes with the colouring.

    Examples
    --------
    >>> from footprint.evaluate import group_table
    >>> from footprint.graph import graph_from_practices
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.plan import plan_from_practices
    >>> practices = select_ccgs(read_practices(), ["00Q"])
    >>> graph = graph_from_practices(practices, use_cache=False)
    >>> plan = plan_from_practices(practices)
    >>> m = plan_map(practices, plan, graph=graph, groups=group_table(plan, practices))
    >>> "cdn.jsdelivr" in m.get_root().render()
    False
    """
    options = options or MapOptions()
    links = links or Links()
    if m is not None and options.tiles is not None:
        msg = "tiles are set when a map is made: give tiles=None with m=, or no m"
        raise TypeError(msg)
    style = {"weight": 1.2, "opacity": 0.9, "fillOpacity": 0.6, **_check_style(style_kwds)}
    check_inputs(practices, graph)
    scene = Scene(
        practices=practices,
        plan=plan,
        graph=graph,
        groups=groups,
        problems=problems or {},
        options=options,
        links=links,
        shapes=geo.Shapes(practices, plan, graph.graph["cells"], options.boundaries),
    )
    return draw_scene(scene, m=m, style=style)


@dataclass(frozen=True, kw_only=True)
class Scene:
    """What one CCG's map draws; ``shapes`` may be shared by many maps (see :class:`geo.Shapes`)."""

    practices: gpd.GeoDataFrame
    plan: Plan
    graph: nx.Graph
    groups: pd.DataFrame
    problems: Mapping[str, str]
    options: MapOptions
    links: Links
    shapes: geo.Shapes
    #: The CCG the map is of (its overlays' summary rows are this CCG's); default the practices'
    #: one CCG, if one.
    ccg: str | None = None


def draw_scene(
    scene: Scene, *, m: folium.Map | None = None, style: Mapping[str, Any] | None = None
) -> folium.Map:
    """Draw ``scene`` on ``m`` (default a new map); the body of :func:`plan_map`."""
    options, links, graph = scene.options, scene.links, scene.graph
    style = style or {"weight": 1.2, "opacity": 0.9, "fillOpacity": 0.6}
    practices = scene.practices.copy()
    info = records(practices)
    problems = {c: t for c, t in scene.problems.items() if c in practices.index}
    plan = scene.plan.restrict(practices.index)
    colours = dict(options.colours) if options.colours is not None else colour_groups(graph, plan)
    rows = group_rows(practices, plan, scene.groups, colours)

    if m is None:
        view = geo.view(practices, options.boundaries)
        m = new_map(view, tiles=options.tiles, assets=options.assets or "inline", title=options.title)
    elif options.assets is not None:
        use_offline_assets(m, options.assets)

    tolerance = options.tolerance(TOLERANCE_M)
    shapes = _draw_background(m, practices, scene.shapes, options, tolerance)
    areas, open_sites = scene.shapes.areas(tolerance, codes=list(practices.index))
    layers = [_draw_areas(m, info, rows, (areas, open_sites), options, links, style)]
    layers += draw_area_layer(m, graph.graph.get("areas"), rows, tolerance_m=tolerance)
    hatched = _draw_hatch(m, rows, areas, show=options.show_problems)
    if hatched is not None:
        layers.append(hatched)
    layers += _draw_overlays(m, practices, graph, shapes, options, cache=scene.shapes.cache)
    if options.places is not None:
        _draw_places(m, practices, options)
    towns = towns_of(practices, options.places)
    practice_layer = _draw_practices(
        m,
        info,
        plan,
        rows,
        graph,
        problems,
        context=_context(practices, options, towns),
        pages=links.pcn_pages,
    )
    layers.append(practice_layer)
    far = {c: g for g in rows.values() for c in g.far if c in practices.index}
    if far:
        layers.append(_draw_far(m, practices, far, show=options.show_problems))
    if problems:
        layers.append(_draw_problems(m, practices, problems, show=options.show_problems))
    drawn = [o for o in options.overlays if any(o.shown_on(practices.index))]
    layers += [_draw_overlay(m, practices, overlay) for overlay in drawn]

    Finder(practice_layer, search=links.search).add_to(m)
    ccg = scene.ccg or _only_ccg(practices)
    summary = _summary_html(
        practices,
        plan,
        rows,
        problems,
        heading=options.title or options.name,
        links=links,
        far=len(far),
        overlays=overlay_rows(options.overlays, ccg),
    )
    add_panel(m, summary, position="bottomleft", kind="summary")
    legend = legend_html(
        current=options.current is not None,
        problems=bool(problems),
        markers=True,
        options=options,
        hatched=hatched is not None,
        far=bool(far),
        overlays=drawn,
    )
    add_panel(m, legend, position="bottomright", kind="legend")
    keep_order(m, layers)
    label = f"Map of {options.title or options.name}: use Find a practice to open a practice's details"
    Ui(label).add_to(m)  # before the layer switcher: on a phone it is made collapsed
    if not any(isinstance(child, folium.LayerControl) for child in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
    if any(ccg in o.summary for o in drawn):  # a map about its overlay: the CCG clear of the panels
        ClearView(ccg_box(practices, options.boundaries, ccg)).add_to(m)
    logger.info(
        "drew %d practices in %d PCNs (%d open, %d with a problem)",
        len(practices),
        len(rows),
        len(plan.open_practices) + len(set(practices.index) - set(plan.assignment)),
        len(problems),
    )
    return m


def _check_style(style_kwds: Mapping[str, Any]) -> dict[str, Any]:
    style = {_camel(k): v for k, v in style_kwds.items()}
    clash = sorted({"fillColor", "color"} & set(style))
    if clash:
        msg = (
            f"style option(s) {', '.join(clash)} clash with the colouring of PCN areas "
            "(neighbours always differ): give weight, opacity or fill_opacity instead"
        )
        raise TypeError(msg)
    return style


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def records(practices: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
    """Return practice code to its name, postcode, list size, flags and position, for fast lookups."""
    frame = pd.DataFrame(
        {
            "code": practices.index,
            "name": [display_name(n) for n in practices["practice_name"]],
            "postcode": practices["postcode"].astype(str).to_numpy(),
            "list_size": practices["list_size"].to_numpy(),
            "rural": practices["rural"].fillna(False).astype(bool).to_numpy()
            if "rural" in practices
            else False,
            "imputed": practices["imputed"].fillna(False).astype(bool).to_numpy()
            if "imputed" in practices
            else False,
            "x": practices.geometry.x.to_numpy(),
            "y": practices.geometry.y.to_numpy(),
        },
        index=practices.index,
    )
    return frame.to_dict("index")


# --------------------------------------------------------------------------- layers


def _draw_background(
    m: folium.Map, practices: gpd.GeoDataFrame, shared: geo.Shapes, options: MapOptions, tolerance: float
) -> gpd.GeoSeries | None:
    """Return the CCG shapes near the practices, drawn as land when there are no tiles."""
    if options.boundaries is None:
        return None
    within = shapely.box(*geo.bounds(practices, 15_000))
    shapes = shared.ccg_shapes(tolerance, within=within)
    if shapes is not None and options.tiles is None:
        draw_land(m, shapes, practices["ccg_code"].unique(), decimals=5, cache=shared.cache)
    return shapes


def _draw_overlays(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    shapes: gpd.GeoSeries | None,
    options: MapOptions,
    *,
    cache: geo.LonlatCache | None = None,
) -> list[folium.GeoJson]:
    """Draw the CCG lines, current PCNs and neighbour links; return their layers."""
    layers = []
    if options.boundaries is not None and shapes is not None:
        own = sorted(practices["ccg_code"].unique())
        names = {**options.boundaries["ccg_name"].astype(str).to_dict(), **graph.graph.get("ccg_names", {})}
        layers.append(draw_ccg_lines(m, shapes, own, names=names, decimals=5, cache=cache))
    if options.current is not None:
        tolerance = options.tolerance(TOLERANCE_M)
        layers.append(_draw_current(m, practices, options.current, graph.graph["cells"], tolerance))
    layers.append(_draw_edges(m, practices, graph))
    return layers


# --------------------------------------------------------------------------- panels


def status_rows(rows: Mapping[str, GroupRow]) -> list[tuple[str, str]]:
    """Return the summary's rows counting PCNs: in band, exempt, below and above the band."""
    counts = status_counts(rows.values())
    return [
        ("PCNs", f"{len(rows):,}"),
        ("In band", f"{counts['in_band']:,}"),
        ("Exempt", f"{counts['exempt']:,}"),
        ("Below / above band", f"{counts['below']:,} / {counts['above']:,}"),
    ]


def _summary_html(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    rows: Mapping[str, GroupRow],
    problems: Mapping[str, str],
    *,
    heading: str,
    links: Links,
    far: int = 0,
    overlays: Sequence[tuple[str, str]] = (),
) -> str:
    open_codes = [c for c in practices.index if plan.assignment.get(c) is None]
    table = [
        *overlays,  # what the map is about first, e.g. the shared CDs and their report
        ("Practices", f"{len(practices):,}"),
        ("Patients", f"{int(practices['list_size'].sum()):,}"),
        *status_rows(rows),
        ("Open practices", f"{len(open_codes):,}"),
        ("Practices with a problem", f"{len(problems):,}"),
        ("Far-flung members", f"{far:,}"),
        ("Funded clinical directors", f"{sum(g.cd_wte for g in rows.values()):.2f} WTE"),
    ]
    date = data_date(practices)
    if date is not None:
        table.append(("List sizes of", date))
    return fragment("panels.html", "summary", heading=heading, rows=table, index=links.index)


def _only_ccg(practices: pd.DataFrame) -> str | None:
    codes = practices["ccg_code"].unique()
    return str(codes[0]) if len(codes) == 1 else None


def overlay_rows(overlays: Sequence[Overlay], ccg: str | None) -> list[tuple[str, str]]:
    """Return the summary rows the overlays give for ``ccg`` and their links (each a row, linked)."""
    rows: list[tuple[str, str]] = []
    for overlay in overlays:
        rows += list(overlay.summary.get(ccg, ())) if ccg is not None else []
        rows += [
            (text, Markup(fragment("overlay.html", "link", text=text, href=href)))
            for text, href in overlay.links
        ]
    return rows


def legend_html(
    *,
    current: bool,
    problems: bool,
    markers: bool,
    options: MapOptions,
    hatched: bool = False,
    far: bool = False,
    overlays: Sequence[Overlay] = (),
) -> str:
    """Return the legend: colours, markers, lines and rings drawn, the caveat, sources and provenance."""
    radii: Sequence[float] = [radius(2_000), radius(10_000), radius(30_000)] if markers else []
    return fragment(
        "panels.html",
        "legend",
        current=current,
        problems=problems,
        radii=radii,
        attribution=options.attribution,
        hatched=hatched,
        far=far,
        overlays=overlays,
        places=options.places is not None,
        made=provenance_rows(options.provenance),
    )
