"""Open the written maps in headless Chromium with the network blocked.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); selenium is
pointed at them so that it never downloads a browser or driver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from footprint.evaluate import group_problems, group_table
from footprint.load import select_ccgs
from footprint.plan import plan_from_practices
from footprint.render import CAVEAT, MapOptions, write_maps

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver",
)

#: How long to wait for the page to draw, in seconds.
WAIT_S = 15


@pytest.fixture(scope="module")
def maps(slice_practices, slice_graph, slice_boundaries, tmp_path_factory) -> Path:
    plan = plan_from_practices(slice_practices)
    out = tmp_path_factory.mktemp("maps")
    groups = group_table(plan, slice_practices)
    write_maps(
        slice_practices,
        slice_graph,
        plan,
        out,
        groups=groups,
        problems=group_problems(groups),
        options=MapOptions(boundaries=slice_boundaries, current=groups),
    )
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=http://127.0.0.1:9",  # nothing listens there: no request can leave
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))  # a path given: Selenium Manager is skipped
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    yield driver
    driver.quit()


def wait_for(driver, script: str, *args: object) -> object:
    """Return the first truthy result of ``script`` within :data:`WAIT_S` seconds."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = driver.execute_script(script, *args)
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for: {script}")


def open_page(driver, path: Path) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.get(path.as_uri())


def assert_offline_and_clean(driver) -> list[str]:
    """Assert that no request failed or went to the network and nothing was logged as an error."""
    requested, failed = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.loadingFailed":
            failed.append(message["params"])
    assert not failed, failed
    assert requested and all(url.startswith(("file://", "data:")) for url in requested), requested
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    return requested


def count(driver, selector: str) -> int:
    return driver.execute_script("return document.querySelectorAll(arguments[0]).length;", selector)


def test_map_draws_offline(browser, maps, slice_practices):
    started = time.monotonic()
    n = len(select_ccgs(slice_practices, ["99F"]))
    open_page(browser, maps / "99F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length === arguments[0];", n)
    assert count(browser, "path.fp-area") == 5  # four PCNs and the open practice's cell
    assert count(browser, "path.fp-problem-ring") == 6
    assert count(browser, "path.fp-ccg") >= 2
    assert count(browser, "path.leaflet-interactive") >= n + 5
    assert count(browser, "path.fp-edge") == 0  # the adjacency layer starts hidden
    body = browser.find_element("tag name", "body").text
    assert CAVEAT in body and "Find a practice" in body and "NHS Castle Point and Rochford CCG" in body
    requested = assert_offline_and_clean(browser)
    assert requested == [(maps / "99F.html").as_uri()]  # Leaflet is inlined: one file, nothing else
    assert time.monotonic() - started < 20


def test_finder_zooms_to_a_practice_and_opens_its_popup(browser, maps):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, maps / "99F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 0;")
    zoom = browser.execute_script("return Object.values(window).find(v => v instanceof L.Map).getZoom();")
    box = browser.find_element("css selector", ".fp-finder input")
    box.send_keys("f81075", Keys.ENTER)
    popup = wait_for(
        browser, "var p = document.querySelector('.leaflet-popup-content'); return p && p.innerText;"
    )
    assert popup.startswith("THE HOLLIES") and "F81075" in popup and "12,518" in popup
    after = browser.execute_script("return Object.values(window).find(v => v instanceof L.Map).getZoom();")
    assert after >= max(zoom, 14)
    # two practices share postcode SS7 4EA: the finder lists both to choose from
    box.clear()
    box.send_keys("ss7 4ea", Keys.ENTER)
    buttons = wait_for(
        browser,
        "var b = document.querySelectorAll('.fp-find-result button');"
        "return b.length && Array.from(b, x => x.innerText);",
    )
    assert sorted(buttons) == [
        "DR BAKER & PARTNERS (F81142, SS7 4EA)",
        "DR KHAN & PARTNERS (F81001, SS7 4EA)",
    ]
    browser.find_elements("css selector", ".fp-find-result button")[1].click()
    wait_for(
        browser,
        "var p = document.querySelector('.leaflet-popup-content');"
        "return p && p.innerText.indexOf('DR KHAN & PARTNERS') === 0;",
    )
    box.clear()
    box.send_keys("no such surgery", Keys.ENTER)
    assert "No practice matches" in wait_for(
        browser, "return document.querySelector('.fp-find-result').innerText;"
    )
    assert_offline_and_clean(browser)


def test_layers_switch_and_practices_stay_on_top(browser, maps):
    open_page(browser, maps / "99F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 0;")

    def toggle(name: str) -> None:
        labels = browser.find_elements("css selector", ".leaflet-control-layers-overlays label")
        next(label for label in labels if label.text.strip() == name).click()

    toggle("Neighbour links (bridges dashed)")
    wait_for(browser, "return document.querySelectorAll('path.fp-edge').length > 0;")
    assert count(browser, "path.fp-edge[stroke-dasharray]") == 1  # Canvey Island's bridge
    toggle("Proposed plan")
    wait_for(browser, "return document.querySelectorAll('path.fp-area').length === 0;")
    toggle("Proposed plan")
    wait_for(browser, "return document.querySelectorAll('path.fp-area').length === 5;")
    toggle("Current PCNs")
    wait_for(browser, "return document.querySelectorAll('path.fp-current').length === 4;")
    order = browser.execute_script(
        "return Array.from(document.querySelectorAll('path'), p => p.getAttribute('class') || '')"
        ".map(c => (c.match(/fp-[a-z-]+/) || [''])[0]).filter(c => c);"
    )
    last_area = max(i for i, c in enumerate(order) if c == "fp-area")
    assert last_area < min(i for i, c in enumerate(order) if c == "fp-practice")
    assert max(i for i, c in enumerate(order) if c == "fp-practice") < min(
        i for i, c in enumerate(order) if c == "fp-problem-ring"
    )
    assert_offline_and_clean(browser)


def test_index_and_pages_open_offline(browser, maps):
    open_page(browser, maps / "index.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-area').length === 11;")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('.fp-index a'), a => a.href);"
    )
    assert {Path(link.split("#")[0]).name for link in links} == {
        f"{ccg}{tail}" for ccg in ("01F", "99F", "99G") for tail in (".html", "-pcns.html")
    }
    assert_offline_and_clean(browser)
    open_page(browser, maps / "99G-pcns.html")
    sections = wait_for(browser, "return document.querySelectorAll('article.pcn svg path').length;")
    assert sections > 4
    assert browser.execute_script("return document.scripts.length;") == 0
    assert_offline_and_clean(browser)
