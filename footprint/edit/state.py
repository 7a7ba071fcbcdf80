"""The page's state: what the editor's page shows of a session, as plain data for JSON.

:func:`compute_state` gathers, after each change, every group's total, band status and
colour, the findings, the out-of-band count against the CCG's least possible and the
stranding verdict (see :meth:`~footprint.edit.session.EditSession.state` for its keys).
:func:`recolour` colours the groups so that neighbours differ, keeping each group's colour
while it can, and :func:`compute_page_data` is what the page draws once: the practices,
their cells and the CCG's outline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd

from footprint.edit.seam import Best
from footprint.evaluate import group_table
from footprint.places import display_name
from footprint.plan import Plan

if TYPE_CHECKING:
    import geopandas as gpd

    from footprint.edit.session import EditSession

#: Colour of open practices (as on the maps of ``footprint map``).
OPEN_COLOUR = "#d9d9d9"


def compute_state(session: EditSession) -> dict[str, Any]:
    """Return everything the page shows of ``session`` but the time taken (see its ``state``)."""
    plan = session.plan
    table = group_table(plan, session.practices, rules=session.rules, approved=session.approved)
    verdict = session.verdict()
    findings = session.findings(verdict)
    broken = {g for g, rule in zip(findings["group"], findings["rule"], strict=True) if rule == "contiguity"}
    names = _group_names(session.practices)
    locked, colours = session.locked, session.colours
    groups = [
        {
            "id": pcn,
            "name": names.get(pcn),
            "list_size": int(row["list_size"]),
            "practices": int(row["practices"]),
            "members": list(row["members"]),
            "status": str(row["status"]),
            "verdict": str(row["verdict"]),
            "in_band": bool(row["in_band"]),
            # pandas stores a missing exemption as NaN, which JSON cannot carry
            "exempt": row["exempt"] if isinstance(row["exempt"], str) else None,
            "locked": pcn in locked,
            "contiguous": pcn not in broken,
            "colour": colours.get(str(pcn), OPEN_COLOUR),
        }
        for pcn, row in table.iterrows()
    ]
    moves = session.moves()
    return {
        "ccg": session.ccg,
        "version": session.version,
        "band": {"low": session.rules.band.low, "high": session.rules.band.high},
        "assignment": dict(plan.assignment),
        "groups": groups,
        "colours": dict(colours),
        "choices": {code: session.choices(code) for code in plan.assignment},
        # members of the CCG's groups in other CCGs: in every figure, never moved
        "outside": {code: str(session.practices.at[code, "ccg_code"]) for code in sorted(session.outside)},
        "findings": findings.to_dict(orient="records"),
        "errors": int((findings["severity"] == "error").sum()),
        "warnings": int((findings["severity"] == "warning").sum()),
        "out_of_band": _out_of_band(table, session.best),
        "stranding": {
            "available": verdict.available,
            "pending": verdict.pending,
            "message": verdict.message,
            "stranded": list(verdict.stranded),
            "at_risk": list(verdict.at_risk),
            **{k: v for k, v in verdict.detail.items() if k not in {"available", "message", "pending"}},
        },
        "moves": moves.to_dict(orient="records"),
        "open": sorted(c for c, p in plan.assignment.items() if p is None),
        "undo": session.history.undo_label,
        "redo": session.history.redo_label,
        "saved": session.saved,
    }


def _out_of_band(table: pd.DataFrame, best: Best | None) -> dict[str, Any]:
    count = int(table["status"].isin(["below", "above"]).sum())
    report: dict[str, Any] = {
        "count": count,
        "all": int((~table["in_band"]).sum()),
        "best": None if best is None else best.count,
        "proven": None if best is None else best.proven,
        "status": "computing" if best is None else best.status,
    }
    groups = "group" if count == 1 else "groups"
    if best is None:
        report["text"] = f"{count} {groups} out of band (working out the least possible ...)"
    elif best.count is None:
        report["text"] = f"{count} {groups} out of band ({best.message or 'least possible unavailable'})"
    else:
        how = "proven" if best.proven else "best found, not proven"
        report["text"] = (
            f"{count} {groups} out of band where {best.count} is the least possible for the CCG ({how})"
        )
    return report


def _group_names(practices: pd.DataFrame) -> dict[str, str]:
    if not {"pcn_code", "pcn_name"} <= set(practices.columns):
        return {}
    pairs = practices[["pcn_code", "pcn_name"]].dropna().astype(str)
    return {code: display_name(name) for code, name in zip(pairs["pcn_code"], pairs["pcn_name"], strict=True)}


def recolour(
    graph: nx.Graph, assignment: Mapping[str, str | None], previous: Mapping[str, str]
) -> dict[str, str]:
    """Colour groups so that neighbours differ, keeping each group's colour while it can."""
    from footprint.render import PALETTE, colour_groups

    plan = Plan(assignment)
    if not previous:
        return colour_groups(graph, plan)
    touching: dict[str, set[str]] = {g: set() for g in plan.groups}
    for a, b in graph.edges:
        ga, gb = assignment.get(a), assignment.get(b)
        if ga is not None and gb is not None and ga != gb:
            touching[ga].add(gb)
            touching[gb].add(ga)
    colours: dict[str, str] = {}
    for pcn in sorted(touching, key=lambda g: (g not in previous, g)):
        near = {colours.get(n) for n in touching[pcn]}
        keep = previous.get(pcn)
        if keep is not None and keep not in near:
            colours[pcn] = keep
            continue
        free = [c for c in PALETTE if c not in near]
        colours[pcn] = free[0] if free else f"hsl({len(colours) * 137.508 % 360:.0f}, 55%, 72%)"
    return colours


def compute_page_data(session: EditSession, practices: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
    """Return what the page draws once: practices (lon/lat, size, name), their cells and the outline.

    ``practices`` gives positions when the session's table has no geometry.
    """
    import geopandas as gpd
    import shapely

    source = practices if practices is not None else session.practices
    codes = list(session.practices.index)
    if isinstance(source, gpd.GeoDataFrame):
        points = source.loc[codes].geometry.to_crs(4326)
    else:
        xy = source.loc[codes]
        points = gpd.GeoSeries(gpd.points_from_xy(xy["x"], xy["y"]), index=codes, crs=27700).to_crs(4326)
    cells = session.graph.graph["cells"].loc[list(session.practices.index)]
    simple = cells.simplify(10.0).to_crs(4326)
    outline = shapely.union_all(cells.buffer(1.0).to_numpy()).simplify(25.0)
    outline_ll = type(cells)([outline], crs=cells.crs).to_crs(4326).iloc[0]
    rows = []
    for code, point in points.items():
        rows.append(
            {
                "code": code,
                "name": display_name(session.practices.at[code, "practice_name"] or ""),
                "list_size": int(session.practices.at[code, "list_size"]),
                "lat": round(point.y, 6),
                "lon": round(point.x, 6),
                "radius": round(3.0 + 1.6 * math.sqrt(session.practices.at[code, "list_size"] / 1000), 1),
            }
        )
    return {
        "ccg": session.ccg,
        "practices": rows,
        "cells": {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"code": code}, "geometry": _rounded(geom)}
                for code, geom in simple.items()
            ],
        },
        "outline": _rounded(outline_ll),
        "bounds": [list(points.total_bounds[[1, 0]]), list(points.total_bounds[[3, 2]])],
    }


def _rounded(geom: Any) -> dict[str, Any]:
    import shapely

    return json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-5)))
