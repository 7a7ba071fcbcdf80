"""A CCG's interactive map of a plan (:func:`plan_map`) and its layers."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from footprint.places import nearest_places
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    COLOURS,
    GroupRow,
    Links,
    MapOptions,
    Overlay,
    check_groups,
    check_inputs,
    colour_groups,
    data_date,
    fragment,
    group_rows,
    labels,
    provenance_rows,
    status_counts,
)
from footprint.render.elements import (
    ON_EACH_FEATURE,
    Finder,
    PlaceLabels,
    Raw,
    Ui,
    add_panel,
    keep_order,
    new_map,
    root,
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
    hatched = _draw_hatch(m, rows, areas)
    if hatched is not None:
        layers.append(hatched)
    layers += _draw_overlays(m, practices, graph, shapes, options, cache=scene.shapes.cache)
    if options.places is not None:
        _draw_places(m, practices, options)
    towns = towns_of(practices, options.places)
    practice_layer = _draw_practices(
        m, info, plan, rows, graph, problems, context=_context(practices, options, towns)
    )
    layers.append(practice_layer)
    far = {c: g for g in rows.values() for c in g.far if c in practices.index}
    if far:
        layers.append(_draw_far(m, practices, far))
    if problems:
        layers.append(_draw_problems(m, practices, problems))
    drawn = [o for o in options.overlays if any(o.shown_on(practices.index))]
    layers += [_draw_overlay(m, practices, overlay) for overlay in drawn]

    Finder(practice_layer).add_to(m)
    summary = _summary_html(
        practices, plan, rows, problems, heading=options.title or options.name, links=links, far=len(far)
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
    Ui().add_to(m)  # before the layer switcher: on a phone it is made collapsed
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

#: Zoom level from which a place of at least this many people is labelled (else :data:`VILLAGE_ZOOM`).
PLACE_ZOOMS = ((100_000, 8), (20_000, 10), (5_000, 11), (1_000, 12))
VILLAGE_ZOOM = 13
#: Places this far beyond a map's practices are labelled too, in metres.
PLACE_MARGIN_M = 8_000.0


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


def place_rows(places: pd.DataFrame, box: tuple[float, float, float, float]) -> list[list[Any]]:
    """Return ``[lat, lon, name, min zoom, kind]`` for the places in ``box`` (EPSG:27700), largest first."""
    x0, y0, x1, y1 = box
    near = places[places["x"].between(x0, x1) & places["y"].between(y0, y1)]
    if not len(near):
        return []
    lon, lat = geo.TO_LONLAT.transform(near["x"].to_numpy(dtype=float), near["y"].to_numpy(dtype=float))
    people = near["population"].to_numpy()
    zoom = np.full(len(near), VILLAGE_ZOOM)
    for floor, level in reversed(PLACE_ZOOMS):
        zoom[people >= floor] = level
    kind = np.where(zoom <= PLACE_ZOOMS[2][1], "town", "village")
    return [
        [round(float(a), 5), round(float(o), 5), str(n), int(z), str(k)]
        for a, o, n, z, k in zip(lat, lon, near["name"], zoom, kind, strict=True)
    ]


def _draw_places(m: folium.Map, practices: gpd.GeoDataFrame, options: MapOptions) -> None:
    """Label the towns and villages around the practices, by zoom level."""
    assert options.places is not None
    rows = place_rows(options.places, geo.bounds(practices, PLACE_MARGIN_M))
    if rows:
        PlaceLabels(rows).add_to(m)


def towns_of(practices: gpd.GeoDataFrame, places: pd.DataFrame | None) -> dict[str, str]:
    """Return practice code to the town and the place nearest to it (for the finder and popups)."""
    if places is None or not len(places) or not len(practices):
        return {}
    xy = np.column_stack([practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()])
    towns = places[places["kind"] == "town"] if (places["kind"] == "town").any() else places
    town, place = nearest_places(xy, towns), nearest_places(xy, places)
    return {c: t if t == p else f"{p}, {t}" for c, t, p in zip(practices.index, town, place, strict=True)}


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


def records(practices: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
    """Return practice code to its name, postcode, list size, flags and position, for fast lookups."""
    frame = pd.DataFrame(
        {
            "code": practices.index,
            "name": practices["practice_name"].astype(str).to_numpy(),
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
    m: folium.Map, rows: Mapping[str, GroupRow], areas: Mapping[str, shapely.Geometry]
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


@dataclass(frozen=True)
class _Context:
    """What a practice's popup says besides its own row: towns, current PCNs, overlay notes."""

    towns: Mapping[str, str]
    current: Mapping[str, str]
    notes: Sequence[tuple[str, Mapping[str, str], str | None]]


def _context(practices: gpd.GeoDataFrame, options: MapOptions, towns: Mapping[str, str]) -> _Context:
    current: dict[str, str] = {}
    if options.current is not None:
        table = options.current
        named = table["name"] if "name" in table.columns else pd.Series(dtype=object)
        plain = labels(practices, list(table.index))
        for pcn, members in table["members"].items():
            name = named.get(pcn)
            label = f"{name} ({pcn})" if isinstance(name, str) and name.strip() else plain[pcn]
            current.update(dict.fromkeys(members, label))
    notes = [(o.label, o.practices, o.others) for o in options.overlays]
    return _Context(towns=towns, current=current, notes=notes)


def _practice_popup(
    practice: Mapping[str, Any],
    group: GroupRow | None,
    graph: nx.Graph,
    problem: str | None,
    *,
    names: Mapping[str, str],
    context: _Context,
) -> str:
    code = practice["code"]
    distance = None
    if group is not None:  # from the table's list-weighted centre of the PCN
        distance = math.hypot(practice["x"] - group.centre[0], practice["y"] - group.centre[1]) / 1000
    others = (
        [] if group is None else [{"code": c, "name": names.get(c, c)} for c in group.members if c != code]
    )
    notes = [
        (label, notes_of.get(code, other))
        for label, notes_of, other in context.notes
        if code in notes_of or other is not None
    ]
    return fragment(
        "popups.html",
        "practice_popup",
        p={**practice, "town": context.towns.get(code)},
        group=group,
        distance_km=distance,
        far=group is not None and code in group.far,
        others=others,
        current=context.current.get(code) if context.current else None,
        notes=notes,
        neighbours=_neighbours(graph, code),
        problem=problem,
    )


def _draw_practices(
    m: folium.Map,
    info: Mapping[str, Mapping[str, Any]],
    plan: Plan,
    rows: Mapping[str, GroupRow],
    graph: nx.Graph,
    problems: Mapping[str, str],
    *,
    context: _Context,
) -> folium.GeoJson:
    names = {c: r["name"] for c, r in info.items()}
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
                    practice, group, graph, problems.get(code), names=names, context=context
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
) -> folium.GeoJson:
    """Draw a layer of rings around the practices of ``tips``, each with its tooltip."""
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
        on_each_feature=ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=8, className=css),
    )
    layer.add_to(m)
    return layer


def _draw_problems(m: folium.Map, practices: gpd.GeoDataFrame, problems: Mapping[str, str]) -> folium.GeoJson:
    tips = {
        c: fragment(
            "popups.html", "problem_tip", name=practices.at[c, "practice_name"], code=c, problem=problems[c]
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
    )


def _draw_far(m: folium.Map, practices: gpd.GeoDataFrame, far: Mapping[str, GroupRow]) -> folium.GeoJson:
    tips = {}
    for code, group in far.items():
        point = practices.geometry.loc[code]
        km = math.hypot(point.x - group.centre[0], point.y - group.centre[1]) / 1000
        tips[code] = fragment(
            "popups.html", "far_tip", name=practices.at[code, "practice_name"], code=code, km=km, group=group
        )
    ring = {"color": COLOURS["far"], "weight": 3, "dashArray": "1 5", "lineCap": "round"}
    return _rings(
        m, practices, tips, name=f"Far-flung members ({len(tips)})", ring=ring, grow=8, css="fp-far-ring"
    )


def _draw_overlay(m: folium.Map, practices: gpd.GeoDataFrame, overlay: Overlay) -> folium.GeoJson:
    """Draw a generic overlay: its lines and rings around its practices, each with its note."""
    codes, lines = overlay.shown_on(practices.index)
    geoms: list[shapely.Geometry] = [shapely.LineString([line.start, line.end]) for line in lines]
    props: list[dict[str, Any]] = [
        {
            "tip": line.tip,
            "style": {"color": overlay.colour, "weight": 2.5, "opacity": 0.9, "dashArray": "8 4"},
        }
        for line in lines
    ]
    for code in codes:
        geoms.append(practices.geometry.loc[code])
        props.append(
            {
                "tip": fragment(
                    "popups.html",
                    "problem_tip",
                    name=practices.at[code, "practice_name"],
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
) -> str:
    open_codes = [c for c in practices.index if plan.assignment.get(c) is None]
    table = [
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
