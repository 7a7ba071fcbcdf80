"""The layers of a CCG's map, one function each: land, CCG lines, places, areas, practices, rings.

Each function draws one :class:`folium.GeoJson` layer (or labels) of the map that
:func:`footprint.render.ccg_map.draw_scene` composes, from what it is handed: the
practices' records, the group rows, the shapes and the options.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from footprint.places import display_name
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    COLOURS,
    GroupRow,
    Links,
    MapOptions,
    Overlay,
    check_groups,
    fragment,
    labels,
)
from footprint.render._practice_popup import _Context, _practice_popup
from footprint.render.elements import ON_EACH_FEATURE, PlaceLabels, Raw, root

logger = logging.getLogger(__name__)


def radius(list_size: float) -> float:
    """Return a marker radius in pixels, its area growing with the list size."""
    return round(3.0 + 1.6 * math.sqrt(list_size / 1000), 1)


#: Zoom level from which a place of at least this many people is labelled (else :data:`VILLAGE_ZOOM`).
PLACE_ZOOMS = ((100_000, 8), (20_000, 10), (5_000, 11), (1_000, 12))
VILLAGE_ZOOM = 13
#: A town of at least this many people inside the map's own CCGs is labelled at every zoom level.
OWN_TOWN_POPULATION = 10_000
#: Places this far beyond a map's practices are labelled too, in metres.
PLACE_MARGIN_M = 8_000.0


def place_rows(
    places: pd.DataFrame, box: tuple[float, float, float, float], *, own: shapely.Geometry | None = None
) -> list[list[Any]]:
    """Return ``[lat, lon, name, min zoom, kind, own]`` for the places in ``box`` (EPSG:27700), largest first.

    ``own``: the map's own CCGs; their towns of :data:`OWN_TOWN_POPULATION` people or more
    are labelled from zoom 0 (``own`` 1), so that the map opens with all of them named.
    """
    x0, y0, x1, y1 = box
    near = places[places["x"].between(x0, x1) & places["y"].between(y0, y1)]
    if not len(near):
        return []
    x, y = near["x"].to_numpy(dtype=float), near["y"].to_numpy(dtype=float)
    lon, lat = geo.TO_LONLAT.transform(x, y)
    people = near["population"].to_numpy()
    zoom = np.full(len(near), VILLAGE_ZOOM)
    for floor, level in reversed(PLACE_ZOOMS):
        zoom[people >= floor] = level
    mine = np.zeros(len(near), dtype=bool)
    if own is not None:
        mine = (people >= OWN_TOWN_POPULATION) & shapely.contains_xy(own, x, y)
    zoom[mine] = 0
    kind = np.where(mine | (zoom <= PLACE_ZOOMS[2][1]), "town", "village")
    return [
        [round(float(a), 5), round(float(o), 5), str(n), int(z), str(k), int(m)]
        for a, o, n, z, k, m in zip(lat, lon, near["name"], zoom, kind, mine, strict=True)
    ]


def _draw_places(m: folium.Map, practices: gpd.GeoDataFrame, options: MapOptions) -> None:
    """Label the towns and villages around the practices by zoom level, the CCG's towns at every level."""
    assert options.places is not None
    own = None
    if options.boundaries is not None:
        codes = options.boundaries.index.intersection(practices["ccg_code"].unique())
        if len(codes):
            own = shapely.union_all(options.boundaries.geometry.loc[codes].to_numpy())
            shapely.prepare(own)
    rows = place_rows(options.places, geo.bounds(practices, PLACE_MARGIN_M), own=own)
    if rows:
        PlaceLabels(rows).add_to(m)


def draw_land(
    m: folium.Map,
    shapes: gpd.GeoSeries,
    own: Iterable[str],
    *,
    decimals: int,
    cache: geo.LonlatCache | None = None,
) -> None:
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
        geo.features(list(shapes), props, decimals=decimals, cache=cache),
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
    cache: geo.LonlatCache | None = None,
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
        geo.features(list(shapes), props, decimals=decimals, cache=cache),
        name="CCG boundaries",
        on_each_feature=ON_EACH_FEATURE,
        className="fp-ccg",
    )
    layer.add_to(m)
    return layer


def _draw_areas(
    m: folium.Map,
    info: Mapping[str, Mapping[str, Any]],
    rows: Mapping[str, GroupRow],
    shapes: tuple[Mapping[str, shapely.Geometry], Mapping[str, shapely.Geometry]],
    options: MapOptions,
    links: Links,
    style: Mapping[str, Any],
) -> folium.GeoJson:
    areas, open_sites = shapes
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
            members=[info[c] for c in group.members],
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
                "tip": fragment("popups.html", "open_tip", name=info[code]["name"]),
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


def _draw_hatch(
    m: folium.Map, rows: Mapping[str, GroupRow], areas: Mapping[str, shapely.Geometry], *, show: bool = True
) -> folium.GeoJson | None:
    """Hatch the areas of PCNs out of the band (exempt ones are not): meaning not by colour alone."""
    out = [p for p, g in rows.items() if g.status in ("below", "above") and p in areas]
    if not out:
        return None
    root(m).html.add_child(Raw(fragment("panels.html", "hatch_pattern")), name="fp_hatch_pattern")
    props = [
        {"style": {"stroke": False, "fill": True, "fillColor": "url(#fp-hatch)", "fillOpacity": 1}}
        for _ in out
    ]
    layer = folium.GeoJson(
        geo.features([areas[p] for p in out], props, decimals=5),
        name=f"Out of band, hatched ({len(out)})",
        show=show,
        interactive=False,
        className="fp-hatch",
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
    if "name" in current.columns:  # the table's names (as the popups give them) where it has them
        named = current["name"].to_dict()
        names.update({p: f"{named[p]} ({p})" for p in areas if isinstance(named.get(p), str) and named[p]})
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
    lines: dict[str, list] = {"rook": [], "patients": [], "cross_ccg": []}
    geoms, props = [], []
    for a, b, data in sorted(graph.subgraph(practices.index).edges(data=True)):
        kind = data.get("type")
        if kind == "bridge":
            geoms.append(shapely.LineString([xy[a], xy[b]]))
            tip = fragment(
                "popups.html",
                "bridge_tip",
                a=display_name(graph.nodes[a]["practice_name"]),
                b=display_name(graph.nodes[b]["practice_name"]),
                km=data.get("length_km", 0),
            )
            props.append(
                {"tip": tip, "style": {"color": "#222222", "weight": 2.5, "dashArray": "8 6", "opacity": 0.9}}
            )
        elif kind in lines:
            lines[kind].append([xy[a], xy[b]])
    for kind, tip, colour in (
        ("rook", "Neighbours: their cells share a border", "#555555"),
        ("patients", "Neighbours: their patients live in the same or touching LSOAs", "#1f6f8b"),
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


def _draw_practices(
    m: folium.Map,
    info: Mapping[str, Mapping[str, Any]],
    plan: Plan,
    rows: Mapping[str, GroupRow],
    graph: nx.Graph,
    problems: Mapping[str, str],
    *,
    context: _Context,
    pages: Mapping[str, str] | None = None,
) -> folium.GeoJson:
    order = sorted(info, key=lambda c: (-info[c]["list_size"], c))
    geoms, props = [], []
    for code in order:
        practice = info[code]
        pcn = plan.assignment.get(code)
        group = rows.get(pcn) if pcn is not None else None
        geoms.append(shapely.Point(practice["x"], practice["y"]))
        props.append(
            {
                "code": code,
                "name": practice["name"],
                "postcode": practice["postcode"],
                "town": context.towns.get(code, ""),
                "pcn": group.label if group is not None else "open (not in a PCN)",
                "tip": fragment(
                    "popups.html",
                    "practice_tip",
                    name=practice["name"],
                    code=code,
                    list_size=practice["list_size"],
                ),
                "popup": _practice_popup(
                    practice,
                    group,
                    graph,
                    problems.get(code),
                    info=info,
                    context=context,
                    page=(pages or {}).get(pcn) if pcn is not None else None,
                ),
                "style": {
                    "radius": radius(practice["list_size"]),
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


def _rings(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    tips: Mapping[str, str],
    *,
    name: str,
    ring: Mapping[str, Any],
    grow: float,
    css: str,
    show: bool = True,
) -> folium.GeoJson:
    """Draw a layer of rings around the practices of ``tips``, each with its tooltip (``show``: at first)."""
    codes = sorted(tips)
    props = [
        {
            "tip": tips[c],
            "style": {"radius": radius(practices.at[c, "list_size"]) + grow, "fill": False, **ring},
        }
        for c in codes
    ]
    layer = folium.GeoJson(
        geo.features(list(practices.geometry.loc[codes]), props, decimals=5),
        name=name,
        show=show,
        on_each_feature=ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=8, className=css),
    )
    layer.add_to(m)
    return layer


def _draw_problems(
    m: folium.Map, practices: gpd.GeoDataFrame, problems: Mapping[str, str], *, show: bool = True
) -> folium.GeoJson:
    tips = {
        c: fragment(
            "popups.html",
            "problem_tip",
            name=display_name(practices.at[c, "practice_name"]),
            code=c,
            problem=problems[c],
        )
        for c in problems
    }
    ring = {"color": COLOURS["problem"], "weight": 3, "dashArray": "7 4"}
    return _rings(
        m,
        practices,
        tips,
        name=f"Practices with a problem ({len(tips)})",
        ring=ring,
        grow=4,
        css="fp-problem-ring",
        show=show,
    )


def _draw_far(
    m: folium.Map, practices: gpd.GeoDataFrame, far: Mapping[str, GroupRow], *, show: bool = True
) -> folium.GeoJson:
    tips = {}
    for code, group in far.items():
        point = practices.geometry.loc[code]
        km = math.hypot(point.x - group.centre[0], point.y - group.centre[1]) / 1000
        tips[code] = fragment(
            "popups.html",
            "far_tip",
            name=display_name(practices.at[code, "practice_name"]),
            code=code,
            km=km,
            group=group,
        )
    ring = {"color": COLOURS["far"], "weight": 3, "dashArray": "1 5", "lineCap": "round"}
    return _rings(
        m,
        practices,
        tips,
        name=f"Far-flung members ({len(tips)})",
        ring=ring,
        grow=8,
        css="fp-far-ring",
        show=show,
    )


def _draw_overlay(m: folium.Map, practices: gpd.GeoDataFrame, overlay: Overlay) -> folium.GeoJson:
    """Draw a generic overlay: its lines and rings around its practices, each with its note.

    Solid lines (``overlay.dash`` ``""``) are drawn on a white casing, so that lines of
    different colours stay readable where they cross; a line's own colour and dash win.
    """
    codes, lines = overlay.shown_on(practices.index)
    geoms: list[shapely.Geometry] = []
    props: list[dict[str, Any]] = []
    if lines and not overlay.dash:
        geoms.append(shapely.MultiLineString([[line.start, line.end] for line in lines]))
        props.append({"style": {"color": "#ffffff", "weight": 6, "opacity": 0.85, "lineCap": "round"}})
    for line in lines:
        dash = overlay.dash if line.dash is None else line.dash
        geoms.append(shapely.LineString([line.start, line.end]))
        props.append(
            {
                "tip": line.tip,
                "style": {
                    "color": line.colour or overlay.colour,
                    "weight": 2.5 if overlay.dash else 3,
                    "opacity": 0.9 if overlay.dash else 1,
                    "dashArray": dash or None,
                },
            }
        )
    for code in codes:
        geoms.append(practices.geometry.loc[code])
        props.append(
            {
                "tip": fragment(
                    "popups.html",
                    "problem_tip",
                    name=display_name(practices.at[code, "practice_name"]),
                    code=code,
                    problem=overlay.practices[code],
                ),
                "style": {
                    "radius": radius(practices.at[code, "list_size"]) + 6,
                    "color": overlay.colours.get(code, overlay.colour),
                    "weight": 3,
                    "fill": False,
                },
            }
        )
    layer = folium.GeoJson(
        geo.features(geoms, props, decimals=5),
        name=f"{overlay.name} ({len(codes)})" if codes else overlay.name,
        show=overlay.show,
        on_each_feature=ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=8, className="fp-overlay-ring"),
        className="fp-overlay",
    )
    layer.add_to(m)
    return layer
