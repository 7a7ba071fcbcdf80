"""The "network areas" layer of a CCG map: each network drawn from where its patients live.

The areas (LSOAs given to networks by their registered patients) are made by
``footprint.areas`` and handed to the maps as ``graph.graph["areas"]``, a GeoDataFrame by
PCN id with ``patients``, ``share_inside``, ``pieces`` and ``area_from``; this module only
draws them, beside the practices' cells, in a layer that starts hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

import folium
import geopandas as gpd
import numpy as np
from markupsafe import escape

from footprint.render import _geometry as geo
from footprint.render._base import GroupRow
from footprint.render.elements import ON_EACH_FEATURE

#: The layer's name in the layer switcher.
LAYER_NAME = "Network areas (where patients live)"


def area_tip(group: GroupRow, row: Mapping) -> str:
    """Return the tooltip of a network's area: how many of its patients live in it (escaped HTML)."""
    if row.get("area_from") == "cells":
        return str(escape(f"{group.label}: no registrations by LSOA; drawn from its practices' cells"))
    share = row.get("share_inside")
    inside = "" if share is None or np.isnan(share) else f"{share:.0%} of "
    pieces = int(row.get("pieces") or 0)
    split = f"; in {pieces} pieces" if pieces > 1 else ""
    patients = int(row.get("patients") or 0)
    return str(escape(f"{group.label}: {inside}its {patients:,} registered patients live in its area{split}"))


def draw_area_layer(
    m: folium.Map,
    areas: gpd.GeoDataFrame | None,
    rows: Mapping[str, GroupRow],
    *,
    tolerance_m: float,
    show: bool = False,
) -> list[folium.GeoJson]:
    """Draw the areas of the networks in ``rows`` as one layer; return it in a list (empty: none).

    Parameters
    ----------
    m
        The map.
    areas
        By PCN id: geometry (EPSG:27700) and the figures the tooltip shows; ``None`` draws nothing.
    rows
        The map's networks with their colours (as the cells layer draws them).
    tolerance_m
        Simplification, in metres; the areas of one map are simplified together, so shared
        borders stay shared.
    show
        Whether the layer starts shown.
    """
    if areas is None or not len(areas):
        return []
    shown, geoms = geo.present(areas, list(rows))
    if not shown:
        return []
    geoms = geo.simplify_together(geoms, tolerance_m, coverage=tolerance_m > 0 and geo.is_coverage(geoms))
    props = []
    for pcn in shown:
        group = rows[pcn]
        props.append(
            {
                "pcn": pcn,
                "tip": area_tip(group, areas.loc[pcn].to_dict()),
                "style": {
                    "color": group.colour,
                    "weight": 2.5,
                    "opacity": 1,
                    "fillColor": group.colour,
                    "fillOpacity": 0.35,
                },
            }
        )
    layer = folium.GeoJson(
        geo.features(list(geoms), props, decimals=5),
        name=LAYER_NAME,
        show=show,
        on_each_feature=ON_EACH_FEATURE,
        className="fp-patient-area",
    )
    layer.add_to(m)
    return [layer]
