"""A CCG's interactive map of a plan (:func:`plan_map`) and its layers."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import pandas as pd
import shapely

from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    COLOURS,
    GroupRow,
    Links,
    MapOptions,
    check_groups,
    check_inputs,
    colour_groups,
    data_date,
    fragment,
    group_rows,
    labels,
    status_counts,
)
from footprint.render.elements import (
    ON_EACH_FEATURE,
    Finder,
    add_panel,
    keep_order,
    new_map,
    use_offline_assets,
)

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
    practices = practices.copy()
    problems = {c: t for c, t in (problems or {}).items() if c in practices.index}
    plan = plan.restrict(practices.index)
    colours = dict(options.colours) if options.colours is not None else colour_groups(graph, plan)
    rows = group_rows(practices, plan, groups, colours)

    if m is None:
        view = geo.view(practices, options.boundaries)
        m = new_map(view, tiles=options.tiles, assets=options.assets or "inline", title=options.title)
    elif options.assets is not None:
        use_offline_assets(m, options.assets)

    shapes = _draw_background(m, practices, options, options.tolerance(TOLERANCE_M))
    layers = [_draw_areas(m, practices, plan, rows, graph.graph["cells"], options, links, style)]
    layers += _draw_overlays(m, practices, graph, shapes, options)
    practice_layer = _draw_practices(m, practices, plan, rows, graph, problems)
    layers.append(practice_layer)
    if problems:
        layers.append(_draw_problems(m, practices, problems))

    Finder(practice_layer).add_to(m)
    summary = _summary_html(
        practices, plan, rows, problems, heading=options.title or options.name, links=links
    )
    add_panel(m, summary, position="bottomleft", kind="summary")
    legend = legend_html(
        current=options.current is not None, problems=bool(problems), markers=True, options=options
    )
    add_panel(m, legend, position="bottomright", kind="legend")
    keep_order(m, layers)
    if not any(isinstance(child, folium.LayerControl) for child in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
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


def radius(list_size: float) -> float:
    """Return a marker radius in pixels, its area growing with the list size."""
    return round(3.0 + 1.6 * math.sqrt(list_size / 1000), 1)


# --------------------------------------------------------------------------- layers


def _draw_background(
    m: folium.Map, practices: gpd.GeoDataFrame, options: MapOptions, tolerance: float
) -> gpd.GeoSeries | None:
    """Return the CCG shapes near the practices, drawn as land when there are no tiles."""
    if options.boundaries is None:
        return None
    within = shapely.box(*geo.bounds(practices, 15_000))
    shapes = geo.ccg_shapes(options.boundaries, within=within, tolerance_m=tolerance)
    if options.tiles is None:
        draw_land(m, shapes, practices["ccg_code"].unique(), decimals=5)
    return shapes


def _draw_overlays(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    shapes: gpd.GeoSeries | None,
    options: MapOptions,
) -> list[folium.GeoJson]:
    """Draw the CCG lines, current PCNs and neighbour links; return their layers."""
    layers = []
    if options.boundaries is not None and shapes is not None:
        own = sorted(practices["ccg_code"].unique())
        names = {**options.boundaries["ccg_name"].astype(str).to_dict(), **graph.graph.get("ccg_names", {})}
        layers.append(draw_ccg_lines(m, shapes, own, names=names, decimals=5))
    if options.current is not None:
        tolerance = options.tolerance(TOLERANCE_M)
        layers.append(_draw_current(m, practices, options.current, graph.graph["cells"], tolerance))
    layers.append(_draw_edges(m, practices, graph))
    return layers


def draw_land(m: folium.Map, shapes: gpd.GeoSeries, own: Iterable[str], *, decimals: int) -> None:
    """Draw CCG polygons as a plain background (no tiles needed); the CCGs in ``own`` lighter."""
    own = set(own)
    props = [
        {
            "style": {
                "stroke": False,
                "fillColor": COLOURS["land"] if c in own else COLOURS["land_other"],
                "fillOpacity": 1,
            }
        }
        for c in shapes.index
    ]
    folium.GeoJson(
        geo.features(list(shapes), props, decimals=decimals),
        name="Background",
        control=False,
        interactive=False,
    ).add_to(m)


def draw_ccg_lines(
    m: folium.Map,
    shapes: gpd.GeoSeries,
    own: Iterable[str],
    *,
    names: Mapping[str, str],
    links: Mapping[str, str] | None = None,
    decimals: int,
) -> folium.GeoJson:
    """Draw CCG boundaries as lines, those in ``own`` thicker, with their names (and links)."""
    own = set(own)
    props = []
    for code in shapes.index:
        name = names.get(code, code)
        link = (links or {}).get(code)
        props.append(
            {
                "tip": fragment("popups.html", "ccg_label", name=name, code=code),
                "popup": fragment("popups.html", "ccg_popup", name=name, code=code, link=link)
                if link
                else None,
                "style": {
                    "color": COLOURS["line"],
                    "weight": 2.5 if code in own else 1.2,
                    "opacity": 0.9,
                    "fill": False,
                },
            }
        )
    layer = folium.GeoJson(
        geo.features(list(shapes), props, decimals=decimals),
        name="CCG boundaries",
        on_each_feature=ON_EACH_FEATURE,
        className="fp-ccg",
    )
    layer.add_to(m)
    return layer


def _member_rows(practices: pd.DataFrame, codes: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {
            "code": c,
            "name": practices.at[c, "practice_name"],
            "postcode": practices.at[c, "postcode"],
            "list_size": practices.at[c, "list_size"],
        }
        for c in codes
    ]


def _draw_areas(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    plan: Plan,
    rows: Mapping[str, GroupRow],
    cells: gpd.GeoSeries,
    options: MapOptions,
    links: Links,
    style: Mapping[str, Any],
) -> folium.GeoJson:
    areas, open_sites = geo.areas(practices, plan, cells, tolerance_m=options.tolerance(TOLERANCE_M))
    geoms: list[shapely.Geometry] = []
    props: list[dict[str, Any]] = []
    for pcn, group in rows.items():
        if pcn not in areas:  # every member shares a building with a bigger practice of another PCN
            logger.info("PCN %s has no area of its own: its practices share buildings", pcn)
            continue
        geoms.append(areas[pcn])
        popup = fragment(
            "popups.html",
            "group_popup",
            group=group,
            members=_member_rows(practices, group.members),
            page=links.pcn_pages.get(pcn),
        )
        props.append(
            {
                "pcn": pcn,
                "tip": fragment("popups.html", "area_tip", group=group),
                "popup": popup,
                "style": {"color": COLOURS["line"], "fillColor": group.colour, **style},
            }
        )
    for code, geom in open_sites.items():
        geoms.append(geom)
        props.append(
            {
                "pcn": None,
                "tip": fragment("popups.html", "open_tip", name=practices.at[code, "practice_name"]),
                "style": {
                    "color": COLOURS["line"],
                    "fillColor": COLOURS["open"],
                    **style,
                    "dashArray": "4 3",
                },
            }
        )
    layer = folium.GeoJson(
        geo.features(geoms, props, decimals=5),
        name=options.name,
        on_each_feature=ON_EACH_FEATURE,
        className="fp-area",
    )
    layer.add_to(m)
    return layer


def _draw_current(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    current: pd.DataFrame,
    cells: gpd.GeoSeries,
    tolerance_m: float,
) -> folium.GeoJson:
    """Draw the current PCNs (their group table) as dashed outlines."""
    check_groups(current, ())
    plan = Plan({c: str(pcn) for pcn, members in current["members"].items() for c in members})
    areas, _ = geo.areas(practices, plan.restrict(practices.index), cells, tolerance_m=tolerance_m)
    names = labels(practices, areas)
    props = [
        {
            "tip": fragment(
                "popups.html", "current_tip", label=names[pcn], total=current.at[pcn, "list_size"]
            ),
            "style": {"color": COLOURS["current"], "weight": 2.5, "dashArray": "6 4", "fill": False},
        }
        for pcn in areas
    ]
    layer = folium.GeoJson(
        geo.features(list(areas.values()), props, decimals=5),
        name="Current PCNs",
        show=False,
        on_each_feature=ON_EACH_FEATURE,
        className="fp-current",
    )
    layer.add_to(m)
    return layer


def _draw_edges(m: folium.Map, practices: gpd.GeoDataFrame, graph: nx.Graph) -> folium.GeoJson:
    xy = dict(zip(practices.index, zip(practices.geometry.x, practices.geometry.y, strict=True), strict=True))
    lines: dict[str, list] = {"rook": [], "cross_ccg": []}
    geoms, props = [], []
    for a, b, data in sorted(graph.subgraph(practices.index).edges(data=True)):
        kind = data.get("type")
        if kind == "bridge":
            geoms.append(shapely.LineString([xy[a], xy[b]]))
            tip = fragment(
                "popups.html",
                "bridge_tip",
                a=graph.nodes[a]["practice_name"],
                b=graph.nodes[b]["practice_name"],
                km=data.get("length_km", 0),
            )
            props.append(
                {"tip": tip, "style": {"color": "#222222", "weight": 2.5, "dashArray": "8 6", "opacity": 0.9}}
            )
        elif kind in lines:
            lines[kind].append([xy[a], xy[b]])
    for kind, tip, colour in (
        ("rook", "Neighbours: their cells share a border", "#555555"),
        ("cross_ccg", "Neighbours across a CCG boundary", "#9e9e9e"),
    ):
        if lines[kind]:
            geoms.append(shapely.MultiLineString(lines[kind]))
            props.append({"tip": tip, "style": {"color": colour, "weight": 1.2, "opacity": 0.8}})
    layer = folium.GeoJson(
        geo.features(geoms, props, decimals=5),
        name="Neighbour links (bridges dashed)",
        show=False,
        on_each_feature=ON_EACH_FEATURE,
        className="fp-edge",
    )
    layer.add_to(m)
    return layer


def _neighbours(graph: nx.Graph, code: str) -> list[dict[str, str]]:
    """Return the practice's neighbours in name order, each with what joins them."""
    found = []
    for other in sorted(graph[code], key=lambda c: (str(graph.nodes[c].get("practice_name", c)), c)):
        data = graph.edges[code, other]
        kind = data.get("type")
        if kind == "bridge":
            tail = f" (bridge, {data.get('length_km', 0):.1f} km)"
        elif kind == "site":
            tail = " (same building)"
        elif kind == "cross_ccg":
            tail = f" (CCG {graph.nodes[other].get('ccg_code', '?')})"
        else:
            tail = ""
        found.append({"name": graph.nodes[other].get("practice_name", other), "code": other, "tail": tail})
    return found


def _practice_popup(
    code: str,
    row: pd.Series,
    group: GroupRow | None,
    graph: nx.Graph,
    problem: str | None,
) -> str:
    distance = None
    if group is not None:  # from the table's list-weighted centre of the PCN
        distance = math.hypot(row.geometry.x - group.centre[0], row.geometry.y - group.centre[1]) / 1000
    practice = {
        "code": code,
        "name": row["practice_name"],
        "postcode": row["postcode"],
        "list_size": row["list_size"],
        "rural": bool(row.get("rural", False)),
        "imputed": bool(row.get("imputed", False)),
    }
    return fragment(
        "popups.html",
        "practice_popup",
        p=practice,
        group=group,
        distance_km=distance,
        neighbours=_neighbours(graph, code),
        problem=problem,
    )


def _draw_practices(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    plan: Plan,
    rows: Mapping[str, GroupRow],
    graph: nx.Graph,
    problems: Mapping[str, str],
) -> folium.GeoJson:
    geoms, props = [], []
    for code, row in practices.sort_values("list_size", ascending=False).iterrows():
        pcn = plan.assignment.get(code)
        group = rows.get(pcn) if pcn is not None else None
        geoms.append(row.geometry)
        props.append(
            {
                "code": code,
                "name": str(row["practice_name"]),
                "postcode": str(row["postcode"]),
                "tip": fragment(
                    "popups.html",
                    "practice_tip",
                    name=row["practice_name"],
                    code=code,
                    list_size=row["list_size"],
                ),
                "popup": _practice_popup(code, row, group, graph, problems.get(code)),
                "style": {
                    "radius": radius(row["list_size"]),
                    "color": "#1f1f1f",
                    "weight": 1.5,
                    "fill": True,
                    "fillColor": "#ffffff",
                    "fillOpacity": 0.9,
                },
            }
        )
    layer = folium.GeoJson(
        geo.features(geoms, props, decimals=5),
        name="Practices",
        on_each_feature=ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=5, className="fp-practice"),
    )
    layer.add_to(m)
    return layer


def _draw_problems(m: folium.Map, practices: gpd.GeoDataFrame, problems: Mapping[str, str]) -> folium.GeoJson:
    codes = sorted(problems)
    props = [
        {
            "tip": fragment(
                "popups.html",
                "problem_tip",
                name=practices.at[c, "practice_name"],
                code=c,
                problem=problems[c],
            ),
            "style": {
                "radius": radius(practices.at[c, "list_size"]) + 4,
                "color": COLOURS["problem"],
                "weight": 3,
                "fill": False,
            },
        }
        for c in codes
    ]
    layer = folium.GeoJson(
        geo.features(list(practices.geometry.loc[codes]), props, decimals=5),
        name=f"Practices with a problem ({len(codes)})",
        on_each_feature=ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=8, className="fp-problem-ring"),
    )
    layer.add_to(m)
    return layer


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
) -> str:
    open_codes = [c for c in practices.index if plan.assignment.get(c) is None]
    table = [
        ("Practices", f"{len(practices):,}"),
        ("Patients", f"{int(practices['list_size'].sum()):,}"),
        *status_rows(rows),
        ("Open practices", f"{len(open_codes):,}"),
        ("Practices with a problem", f"{len(problems):,}"),
        ("Funded clinical directors", f"{sum(g.cd_wte for g in rows.values()):.2f} WTE"),
    ]
    date = data_date(practices)
    if date is not None:
        table.append(("List sizes of", date))
    return fragment("panels.html", "summary", heading=heading, rows=table, index=links.index)


def legend_html(*, current: bool, problems: bool, markers: bool, options: MapOptions) -> str:
    """Return the legend: colours, markers, lines and rings drawn, the caveat and the data sources."""
    radii: Sequence[float] = [radius(2_000), radius(10_000), radius(30_000)] if markers else []
    return fragment(
        "panels.html",
        "legend",
        current=current,
        problems=problems,
        radii=radii,
        attribution=options.attribution,
    )
