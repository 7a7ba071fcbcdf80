"""Printable pages, one per PCN, with a map of its area drawn as inline SVG (:func:`pcn_pages`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from footprint.load import CRS
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    ENV,
    GroupRow,
    Links,
    MapOptions,
    anchors,
    check_inputs,
    colour_groups,
    data_date,
    group_rows,
)

#: Simplification of the drawn areas on printable pages, in metres, unless the options say.
TOLERANCE_M = 20.0


def pcn_pages(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    groups: pd.DataFrame,
    options: MapOptions | None = None,
    links: Links | None = None,
) -> str:
    """Return an HTML document with one printable page per PCN of ``plan``.

    Each page lists the member practices with their ODS codes, postcodes and list sizes,
    the total, the band verdict, the funded clinical-director time and a map of the area as
    inline SVG (so it prints with no script), with blanks for the named clinical director
    and nominated payee: what a registration pack asks for. Printing the document prints
    every PCN; opening it at ``#pcn-<id>`` and printing prints that PCN alone.

    Parameters
    ----------
    practices, plan, graph, groups
        As for :func:`~footprint.render.plan_map`.
    options
        ``boundaries``, ``title`` (default ``"PCN pages"``), ``colours``, ``tolerance_m``
        and ``attribution`` are used (see :class:`~footprint.render.MapOptions`).
    links
        ``back``: the map to link back to.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    DataError
        As for :func:`~footprint.render.plan_map`.
    """
    options = options or MapOptions()
    check_inputs(practices, graph)
    plan = plan.restrict(practices.index)
    colours = dict(options.colours) if options.colours is not None else colour_groups(graph, plan)
    rows = group_rows(practices, plan, groups, colours)
    tolerance = options.tolerance(TOLERANCE_M)
    areas, _ = geo.areas(practices, plan, graph.graph["cells"], tolerance_m=tolerance)
    shapes = None
    if options.boundaries is not None:
        within = shapely.box(*geo.bounds(practices, 20_000))
        shapes = geo.ccg_shapes(options.boundaries, within=within, tolerance_m=tolerance)
    names = graph.graph.get("ccg_names", {})
    ids = anchors(rows)
    pages = [
        {
            "anchor": ids[pcn],
            "group": group,
            "ccgs": ", ".join(f"{names.get(c, c)} ({c})" for c in group.ccgs),
            "svg": _svg(group, areas, practices, shapes),
            "members": [
                {
                    "code": c,
                    "name": practices.at[c, "practice_name"],
                    "postcode": practices.at[c, "postcode"],
                    "list_size": practices.at[c, "list_size"],
                }
                for c in group.members
            ],
        }
        for pcn, group in rows.items()
    ]
    return ENV.get_template("pages.html").render(
        title=options.title or "PCN pages",
        pages=pages,
        back=(links or Links()).back,
        date=data_date(practices),
        attribution=options.attribution,
    )


def _svg_path(geom: shapely.Geometry, x0: float, y1: float) -> str:
    """Return SVG path data of a (multi)polygon, y flipped, in whole metres from (x0, y1)."""
    parts = []
    for polygon in getattr(geom, "geoms", [geom]):
        if polygon.geom_type != "Polygon":
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)[:-1]
            pts = " ".join(f"{x - x0:.0f} {y1 - y:.0f}" for x, y in xy)
            parts.append(f"M{pts}Z")
    return "".join(parts)


def _svg_lines(geom: shapely.Geometry, x0: float, y1: float) -> list[str]:
    """Return SVG path data of the line strings of ``geom``, y flipped."""
    out = []
    for line in getattr(geom, "geoms", [geom]):
        if line.geom_type == "LineString" and not line.is_empty:
            out.append("M" + " ".join(f"{x - x0:.0f} {y1 - y:.0f}" for x, y in line.coords))
    return out


def _frame(
    own: shapely.Geometry | None, members: gpd.GeoDataFrame, aspect: float
) -> tuple[float, float, float, float]:
    """Return the box to draw: the area (or members), padded and grown to ``aspect``."""
    x0, y0, x1, y1 = (own if own is not None else shapely.MultiPoint(list(members.geometry))).bounds
    pad = max(x1 - x0, y1 - y0, 1_000) * 0.06
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    grow_x = max((y1 - y0) * aspect - (x1 - x0), 0) / 2
    grow_y = max((x1 - x0) / aspect - (y1 - y0), 0) / 2
    return x0 - grow_x, y0 - grow_y, x1 + grow_x, y1 + grow_y


def _svg(
    group: GroupRow,
    areas: Mapping[str, shapely.Geometry],
    practices: gpd.GeoDataFrame,
    shapes: gpd.GeoSeries | None,
    *,
    aspect: float = 1.5,
) -> dict:
    """Return what the SVG map of ``group``'s area draws: its neighbours, CCG lines and practices."""
    own = areas.get(group.pcn)
    members = practices.loc[list(group.members)]
    x0, y0, x1, y1 = _frame(own, members, aspect)
    view = shapely.box(x0, y0, x1, y1)
    width, height = x1 - x0, y1 - y0
    near = shapes[shapes.intersects(view)] if shapes is not None else gpd.GeoSeries([], crs=CRS)
    r, font = width / 160, width / 70
    others = practices[practices.geometry.within(view) & ~practices.index.isin(group.members)]
    sites: dict[tuple[float, float], list[str]] = {}
    for code, point in members.geometry.items():
        sites.setdefault((point.x, point.y), []).append(code)
    step = 10 ** math.floor(math.log10(width / 5))
    bar = max(k * step for k in (1, 2, 5) if k * step <= width / 5)
    return {
        "width": f"{width:.0f}",
        "height": f"{height:.0f}",
        "label": group.label,
        "colour": group.colour,
        "font": f"{font:.0f}",
        "land": [_svg_path(shapely.intersection(g, view), x0, y1) for g in near],
        "neighbours": [
            _svg_path(shapely.intersection(g, view), x0, y1)
            for pcn, g in areas.items()
            if pcn != group.pcn and g.intersects(view)
        ],
        "own": _svg_path(own, x0, y1) if own is not None else None,
        "lines": [d for g in near for d in _svg_lines(shapely.intersection(g.boundary, view), x0, y1)],
        "others": [
            {"x": f"{p.x - x0:.0f}", "y": f"{y1 - p.y:.0f}", "r": f"{r * 0.6:.0f}"} for p in others.geometry
        ],
        "sites": [
            {
                "x": f"{x - x0:.0f}",
                "y": f"{y1 - y:.0f}",
                "r": f"{r:.0f}",
                "text_x": f"{x - x0 + r * 1.4:.0f}",
                "text_y": f"{y1 - y + font * 0.35:.0f}",
                "codes": codes,
            }
            for (x, y), codes in sites.items()
        ],
        "bar": {
            "d": f"M{width * 0.03:.0f} {height * 0.95:.0f}h{bar:.0f}",
            "x": f"{width * 0.03:.0f}",
            "y": f"{height * 0.95 - font * 0.6:.0f}",
            "label": f"{bar / 1000:g} km",
        },
    }
