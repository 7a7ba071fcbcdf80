"""Remake docs/map-screenshot.png: one CCG's map of the current PCNs, opened offline.

Usage: ``.venv/bin/python docs/make_screenshot.py [CCG] [PRACTICE]`` (default 00T Bolton, P82001).
Needs Debian's chromium and chromium-driver. The map is written as ``footprint map`` writes
it (``footprint.cli.maps.draw``), opened from disk in headless Chromium with the network
blocked, the finder used to open one practice's popup, and the window saved as PNG.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.keys import Keys

from footprint.cli.maps import draw
from footprint.config import Rules
from footprint.graph import graph_from_practices
from footprint.load import read_boundaries, read_practices
from footprint.plan import plan_from_practices

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the browser tests' Chromium set-up
from tests.conftest import CHROMEDRIVER, chromium_options

OUT = Path(__file__).resolve().parent / "map-screenshot.png"


def main(ccg: str = "00T", practice: str = "P82001") -> None:
    """Write the map of ``ccg`` and save it with ``practice``'s popup open."""
    practices, boundaries = read_practices(), read_boundaries()
    graph = graph_from_practices(practices, boundaries)
    plan = plan_from_practices(practices)
    with tempfile.TemporaryDirectory() as tmp:
        draw(  # as footprint map draws it: PCN names, place names, far-flung members
            practices,
            graph,
            plan,
            Path(tmp),
            rules=Rules(),
            boundaries=boundaries,
            ccgs=[ccg],
            name="Current PCNs",
            processes=1,
        )
        options = chromium_options(Path(tmp) / "chromium", window="1400,1050")
        options.add_argument("--hide-scrollbars")
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
            driver.get((Path(tmp) / f"{ccg}.html").as_uri())
            time.sleep(1)
            zoom = driver.execute_script(
                "return Object.values(window).find(v => v instanceof L.Map).getZoom();"
            )
            driver.find_element("css selector", ".fp-finder input").send_keys(practice, Keys.ENTER)
            time.sleep(0.5)
            # back out to the whole CCG, then reopen the popup so that it pans into view
            driver.execute_script(
                "var m = Object.values(window).find(v => v instanceof L.Map);"
                "var popup = m._popup; var source = popup._source;"
                "m.closePopup(); m.setZoom(arguments[0], {animate: false}); source.openPopup();",
                zoom - 0.25,
            )
            time.sleep(1)
            driver.save_screenshot(str(OUT))
        finally:
            driver.quit()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
