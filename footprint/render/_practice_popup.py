"""What a practice's popup on a CCG's map says: its group, town, current PCN, notes and neighbours.

:func:`_practice_popup` writes one practice's popup from its record and group row, the
graph (its neighbours and what joins them) and a :class:`_Context` of what the whole map
knows (:func:`towns_of`, the current PCNs, the overlays' notes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from footprint.places import display_name, nearest_places
from footprint.render._base import GroupRow, MapOptions, fragment, labels


def towns_of(practices: gpd.GeoDataFrame, places: pd.DataFrame | None) -> dict[str, str]:
    """Return practice code to the town and the place nearest to it (for the finder and popups)."""
    if places is None or not len(places) or not len(practices):
        return {}
    xy = np.column_stack([practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()])
    towns = places[places["kind"] == "town"] if (places["kind"] == "town").any() else places
    town, place = nearest_places(xy, towns), nearest_places(xy, places)
    return {c: t if t == p else f"{p}, {t}" for c, t, p in zip(practices.index, town, place, strict=True)}


def _neighbours(graph: nx.Graph, code: str) -> list[dict[str, str]]:
    """Return the practice's neighbours in name order, each with what joins them."""
    found = []
    for other in sorted(graph[code], key=lambda c: (display_name(graph.nodes[c].get("practice_name", c)), c)):
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
        found.append(
            {
                "name": display_name(graph.nodes[other].get("practice_name", other)),
                "code": other,
                "tail": tail,
            }
        )
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
    info: Mapping[str, Mapping[str, Any]],
    context: _Context,
    page: str | None = None,
) -> str:
    """Return a practice's popup: its figures, its PCN's members with their list sizes, its neighbours.

    ``info``: every drawn practice's record (name and list size of the members); ``page``:
    the address of its PCN's printable page.
    """
    code = practice["code"]
    distance = None
    if group is not None:  # from the table's list-weighted centre of the PCN
        distance = math.hypot(practice["x"] - group.centre[0], practice["y"] - group.centre[1]) / 1000
    members = [] if group is None else [info[c] for c in group.members if c in info]
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
        members=members,
        page=page,
        current=context.current.get(code) if context.current else None,
        notes=notes,
        neighbours=_neighbours(graph, code),
        problem=problem,
    )
