"""Leaflet and branca elements: HTML panels, the practice finder, small scripts and new maps.

Every element renders from a template of ``templates/`` through the autoescaping
environment; HTML put into a panel is escaped when it is made, and is passed to
Leaflet as a JSON string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import shapely
from branca.element import Element, Figure, MacroElement

from footprint.load import CRS
from footprint.render._base import ASSETS, COLOURS, CREDIT, ENV, Assets
from footprint.render.assets import leaflet_head

#: Binds each feature's ``popup`` and ``tip`` properties (HTML, escaped when made).
ON_EACH_FEATURE = folium.JsCode(ENV.get_template("on_each_feature.js").render().strip())


class Raw(Element):
    """Text put into a page as it is (not read again as a template, unlike :class:`Element`)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "FootprintRaw"
        self.text = text

    def render(self, **kwargs: Any) -> str:  # noqa: ARG002 - branca's signature
        """Return the text."""
        return self.text


class HtmlControl(MacroElement):
    """A Leaflet control holding fixed HTML (a panel, a legend)."""

    _template = ENV.get_template("control.js")

    def __init__(self, content: str, *, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "FootprintPanel"
        self.content = content
        self.position = position
        self.css_class = css_class


class Finder(MacroElement):
    """A box that finds a practice by name, ODS code or postcode and opens its popup."""

    _template = ENV.get_template("finder.js")

    def __init__(self, layer: folium.GeoJson) -> None:
        super().__init__()
        self._name = "FootprintFinder"
        self.layer = layer


class Credit(MacroElement):
    """The short data credit in the map's attribution corner."""

    _template = ENV.get_template("credit.js")

    def __init__(self, credit: str = CREDIT) -> None:
        super().__init__()
        self._name = "FootprintScript"
        self.credit = credit


class KeepOrder(MacroElement):
    """Keep layers stacked in order (areas under markers) when one is switched back on."""

    _template = ENV.get_template("keep_order.js")

    def __init__(self, layers: Sequence[folium.GeoJson]) -> None:
        super().__init__()
        self._name = "FootprintScript"
        self.layer_names = [layer.get_name() for layer in layers]


def root(m: folium.Map) -> Figure:
    """Return the page (figure) that holds ``m``."""
    figure = m.get_root()
    assert isinstance(figure, Figure)  # folium.Map always makes one
    return figure


def use_offline_assets(m: folium.Map, assets: Assets) -> None:
    """Make ``m`` load only Leaflet, from the installed package rather than a CDN."""
    if assets not in ASSETS:
        msg = f"assets={assets!r} is not an option: give 'inline' or 'beside'"
        raise ValueError(msg)
    m.default_js = []  # folium's CDN list (Leaflet, jQuery, Bootstrap, fonts) is not needed
    m.default_css = []
    header = root(m).header
    for name, text in leaflet_head(assets).items():
        header.add_child(Raw(text), name=name)


def new_map(
    view: tuple[float, ...], *, tiles: str | None, assets: Assets, title: str | None, width: str = "100%"
) -> folium.Map:
    """Return a map that shows ``view`` (EPSG:27700), loads Leaflet offline and carries the credit."""
    m = folium.Map(tiles=tiles, width=width, control_scale=True, zoom_snap=0.25, zoom_delta=0.5)
    use_offline_assets(m, assets)
    figure = root(m)
    figure.title = title
    css = ENV.get_template("map.css").render(sea=COLOURS["sea"] if tiles is None else "#ddd")
    figure.header.add_child(Raw(f"<style>{css}</style>"), name="footprint_css")
    Credit().add_to(m)
    x0, y0, x1, y1 = view
    corners = gpd.GeoSeries(shapely.points([x0, x1], [y0, y1]), crs=CRS).to_crs("EPSG:4326")
    m.fit_bounds([[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]])
    return m


def keep_order(m: folium.Map, layers: Sequence[folium.GeoJson]) -> None:
    """Keep ``layers`` stacked in this order (areas under markers) when one is switched back on."""
    KeepOrder(layers).add_to(m)


def add_panel(m: folium.Map, content: str, *, position: str, kind: str) -> None:
    """Add a panel of HTML ``content`` (``kind`` ``"summary"`` or ``"legend"``) to ``m``."""
    HtmlControl(content, position=position, css_class=f"fp-panel fp-{kind}").add_to(m)
