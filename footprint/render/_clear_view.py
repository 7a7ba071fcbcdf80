"""Keep a map's CCG clear of its panels (:class:`ClearView`), for maps about an overlay."""

from __future__ import annotations

import geopandas as gpd
from branca.element import MacroElement

from footprint.render import _geometry as geo
from footprint.render._base import ENV


class ClearView(MacroElement):
    """Fit ``box`` (EPSG:27700) into the part of the map no panel covers, at opening and as the legend opens.

    The legend folds and unfolds with a click on its heading; while the map is still at the
    view this fitted, it is fitted again around the legend as it now is.
    """

    _template = ENV.get_template("clear_view.js")

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        super().__init__()
        self._name = "FootprintClearView"
        x0, y0, x1, y1 = box
        (lon0, lon1), (lat0, lat1) = geo.TO_LONLAT.transform([x0, x1], [y0, y1])
        self.bounds = [[round(lat0, 5), round(lon0, 5)], [round(lat1, 5), round(lon1, 5)]]


def ccg_box(
    practices: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame | None, ccg: str | None
) -> tuple[float, float, float, float]:
    """Return the box of ``ccg``'s boundary (else the view of the practices), EPSG:27700."""
    if ccg is not None and boundaries is not None and ccg in boundaries.index:
        x0, y0, x1, y1 = boundaries.geometry.loc[[ccg]].total_bounds
        return float(x0), float(y0), float(x1), float(y1)
    x0, y0, x1, y1 = geo.view(practices, boundaries)
    return float(x0), float(y0), float(x1), float(y1)
