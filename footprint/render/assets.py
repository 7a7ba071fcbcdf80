"""Leaflet's script and style from the installed ``folium-offline`` package, so pages need no CDN."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from footprint.errors import FootprintError
from footprint.render._base import ASSET_DIR, Assets, fragment, write_text


@functools.cache
def leaflet_sources() -> dict[str, str]:
    """Return Leaflet's ``leaflet.js`` and ``leaflet.css`` from the installed folium-offline.

    Raises
    ------
    FootprintError
        If folium-offline is missing or holds no Leaflet.
    """
    try:
        from offlinefolium import elements  # 3.5 MB of embedded web assets: import when needed
    except ImportError:  # pragma: no cover - a declared dependency
        msg = "the maps need Leaflet from the folium-offline package: pip install folium-offline"
        raise FootprintError(msg) from None
    sources = getattr(elements, "_res", {})
    found = {}
    for name in ("leaflet.js", "leaflet.css"):
        urls = sorted(u for u in sources if re.search(rf"/leaflet@[0-9.]+/dist/{re.escape(name)}$", u))
        if not urls:
            msg = (
                f"the installed folium-offline has no {name}: reinstall it "
                "(pip install --force-reinstall 'folium-offline>=0.20')"
            )
            raise FootprintError(msg)
        found[name] = sources[urls[-1]]
    return found


def leaflet_head(assets: Assets) -> dict[str, str]:
    """Return the page-head elements that load Leaflet: inlined, or from ``assets/`` beside the page."""
    if assets == "beside":
        css = js = ""
    else:
        sources = leaflet_sources()
        css, js = sources["leaflet.css"], sources["leaflet.js"].replace("</script", "<\\/script")
    return {
        "leaflet_css": fragment("leaflet.html", "style", assets=assets, asset_dir=ASSET_DIR, css=css),
        "leaflet": fragment("leaflet.html", "script", assets=assets, asset_dir=ASSET_DIR, js=js),
    }


def write_assets(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write Leaflet's script and style into ``out_dir/assets`` for pages made with ``assets="beside"``.

    Parameters
    ----------
    out_dir
        The folder of the pages.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    return [write_text(Path(out_dir) / ASSET_DIR / name, text) for name, text in leaflet_sources().items()]
