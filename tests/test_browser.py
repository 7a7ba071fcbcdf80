"""Open the written maps in headless Chromium with the network blocked.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); selenium is
pointed at them so that it never downloads a browser or driver.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from footprint.config import Rules
from footprint.evaluate import group_problems, group_table
from footprint.load import select_ccgs
from footprint.places import read_places
from footprint.plan import Plan, plan_from_practices
from footprint.render import CAVEAT, MapOptions, write_maps
from tests.conftest import CHROMEDRIVER, CHROMIUM, headless_chromium
from tests.conftest import wait_for as wait_for_in

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
        options=MapOptions(boundaries=slice_boundaries, current=groups, places=read_places()),
    )
    return out


#: The practice the proposed plan of :func:`proposed` moves, and where from and to.
MOVED = ("F81032", "U27924", "U30335")


@pytest.fixture(scope="module")
def proposed(slice_practices, slice_graph, slice_boundaries, tmp_path_factory) -> Path:
    """Maps of a proposed plan, drawn as the command line draws them: P A Patel Surgery moves
    from Benfleet PCN to Rayleigh and District PCN, which becomes a new group ``99F-new``."""
    from footprint.cli.maps import draw

    current = plan_from_practices(slice_practices)
    code, _, to = MOVED
    assignment = {**current.assignment, code: to}
    plan = Plan({c: "99F-new" if p == to else p for c, p in assignment.items()})
    out = tmp_path_factory.mktemp("proposed")
    draw(
        slice_practices,
        slice_graph,
        plan,
        out,
        rules=Rules(),
        boundaries=slice_boundaries,
        current=current,
        name="Proposed plan",
        provenance={
            "footprint_version": "9.9.9",
            "data_date": "2022-01-01",
            "options": {"band": "30000,50000"},
        },
        processes=2,
    )
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    driver = headless_chromium(tmp_path_factory.mktemp("chromium"), window="1280,900", wait_s=WAIT_S)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    yield driver
    driver.quit()


#: The shared wait, with this module's limit.
wait_for = functools.partial(wait_for_in, wait_s=WAIT_S)


def open_page(driver, path: Path, fragment: str = "") -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.get(path.as_uri() + (f"#{fragment}" if fragment else ""))


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
    # Leaflet is inlined: the map's file and the England search index beside it, nothing else
    assert requested == [(maps / "99F.html").as_uri(), (maps / "practices-index.js").as_uri()]
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
    assert popup.startswith("The Hollies") and "F81075" in popup and "12,518" in popup
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
        "Dr Baker & Partners (F81142, SS7 4EA)",
        "Dr Khan & Partners (F81001, SS7 4EA)",
    ]
    browser.find_elements("css selector", ".fp-find-result button")[1].click()
    wait_for(
        browser,
        "var p = document.querySelector('.leaflet-popup-content');"
        "return p && p.innerText.indexOf('Dr Khan & Partners') === 0;",
    )
    box.clear()
    box.send_keys("no such surgery", Keys.ENTER)
    assert "No practice matches" in wait_for(
        browser, "return document.querySelector('.fp-find-result').innerText;"
    )
    assert_offline_and_clean(browser)


def test_finder_finds_a_town_as_the_england_index_does(browser, maps):
    """A town is a whole word of a practice's "place, town" on the map's finder, as on the index."""
    from selenium.webdriver.common.keys import Keys

    open_page(browser, maps / "01F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 0;")
    box = browser.find_element("css selector", ".fp-finder input")
    box.send_keys("Runcorn", Keys.ENTER)
    on_map = wait_for(
        browser,
        "var b = document.querySelectorAll('.fp-find-result button');"
        "return b.length && Array.from(b, x => x.innerText.split('(')[1].split(',')[0]);",
    )
    open_page(browser, maps / "index.html")
    box = wait_for(browser, "return document.getElementById('fp-england-find');")
    box.send_keys("Runcorn", Keys.ENTER)
    wait_for(browser, "return document.querySelectorAll('.fp-index .fp-find-list li').length > 0;")
    on_index = browser.execute_script(
        "return Array.from(document.querySelectorAll('.fp-find-list a'), a => a.href.split('#')[1]);"
    )
    assert sorted(on_map) == sorted(on_index) and len(on_map) == 6
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
    # the pages print with no script: the one there only names the page after the PCN opened
    assert browser.execute_script("return document.scripts.length;") == 1
    assert_offline_and_clean(browser)


# --------------------------------------------------------------------------- issue 11


def popup_text(driver) -> str:
    script = "var p = document.querySelector('.leaflet-popup-content'); return p && p.innerText;"
    return str(wait_for(driver, script))


def labels(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.fp-place'), e => e.innerText);"
    )


def zoom(driver) -> float:
    return driver.execute_script("return Object.values(window).find(v => v instanceof L.Map).getZoom();")


def test_place_labels_show_towns_first_and_villages_when_zoomed_in(browser, maps):
    open_page(browser, maps / "99F.html")
    wait_for(browser, "return document.querySelectorAll('.fp-place').length > 0;")
    first = labels(browser)
    assert {"Rayleigh", "Canvey Island", "South Benfleet"} <= set(first), first
    assert zoom(browser) < 13 and count(browser, ".fp-place-village") == 0
    browser.execute_script(
        "Object.values(window).find(v => v instanceof L.Map).setView([51.614, 0.745], 13, {animate: false});"
    )
    wait_for(browser, "return document.querySelectorAll('.fp-place-village').length > 0;")
    # labels are not interactive and not in the tab order
    assert count(browser, ".fp-place[tabindex]") == 0 and count(browser, ".fp-place.leaflet-interactive") == 0
    legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
    assert "GeoNames" in legend and "CC-BY 4.0" in legend
    assert_offline_and_clean(browser)


def test_practice_link_opens_its_popup_with_members_current_pcn_and_move(browser, proposed):
    code, _, _ = MOVED
    open_page(browser, proposed / "99F.html", code)
    popup = popup_text(browser)
    assert popup.startswith("P A Patel Surgery")
    assert "PCN\tRayleigh PCN (new) (99F-new)" in popup  # a new group named after its place, marked new
    assert "Current PCN\tBenfleet PCN (U27924)" in popup
    assert "Moves\tyes, from Benfleet PCN (U27924) to Rayleigh PCN (new) (99F-new)" in popup
    assert "Members of its PCN (7)" in popup and "Audley Mills Surgery\tF81123\t" in popup
    # the changes layer (off when the map opens): a ring around the moved practice and a line to its new PCN
    assert count(browser, "path.fp-overlay-ring") == 0
    labels = browser.find_elements("css selector", ".leaflet-control-layers-overlays label")
    toggle = next(x for x in labels if "Changes from" in x.get_attribute("textContent"))
    browser.execute_script("arguments[0].click();", toggle)
    wait_for(browser, "return document.querySelectorAll('path.fp-overlay-ring').length === 1;")
    assert count(browser, "path.fp-overlay") == 1
    browser.get((proposed / "99F.html").as_uri() + "#F81075")
    wait_for(
        browser,
        "var p = document.querySelector('.leaflet-popup-content');"
        "return p && p.innerText.indexOf('The Hollies') === 0;",
    )
    assert "Moves\tno" in popup_text(browser)
    legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
    assert "practice that moves to another PCN" in legend
    assert "How this map was made" in legend and "9.9.9" in legend and "band 30000,50000" in legend
    assert_offline_and_clean(browser)


def test_england_finder_opens_the_right_ccg_map_at_the_practice(browser, maps):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, maps / "index.html")
    box = wait_for(browser, "return document.getElementById('fp-england-find');")
    box.send_keys("f81075", Keys.ENTER)
    wait_for(browser, "return location.href.endsWith('99F.html#F81075');")
    assert popup_text(browser).startswith("The Hollies")
    assert_offline_and_clean(browser)
    open_page(browser, maps / "index.html")
    box = wait_for(browser, "return document.getElementById('fp-england-find');")
    box.send_keys("surgery", Keys.ENTER)
    prompt = wait_for(
        browser, "var p = document.querySelector('.fp-index .fp-find-result p'); return p && p.innerText;"
    )
    assert "type more to narrow" in prompt
    found = count(browser, ".fp-index .fp-find-list li")
    assert found == int(prompt.split()[0]) > 8  # every match is listed, not 8
    style = browser.execute_script(
        "return getComputedStyle(document.querySelector('.fp-find-list')).overflowY;"
    )
    assert style == "auto"
    box.clear()
    box.send_keys("Runcorn", Keys.ENTER)
    wait_for(browser, "return document.querySelectorAll('.fp-index .fp-find-list li').length === 6;")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('.fp-find-list a'), a => a.href);"
    )
    assert all("/01F.html#N81" in link for link in links), links
    assert_offline_and_clean(browser)


def pdf_pages(driver, path: Path) -> int:
    import base64
    import io

    from pypdf import PdfReader

    open_page(driver, path)
    wait_for(driver, "return document.readyState === 'complete';")
    pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})
    return len(PdfReader(io.BytesIO(base64.b64decode(pdf["data"]))).pages)


def test_printed_pack_is_one_a4_page_per_pcn(
    browser, maps, slice_practices, slice_graph, slice_boundaries, tmp_path
):
    for ccg in ("01F", "99F", "99G"):
        pcns = len(
            {p for c, p in plan_from_practices(select_ccgs(slice_practices, [ccg])).assignment.items() if p}
        )
        assert pdf_pages(browser, maps / f"{ccg}-pcns.html") == pcns == count(browser, "section.sheet")
        toc = browser.find_element("css selector", "nav.toc").text
        assert "out of band" in toc if ccg != "99F" or "U30335" in toc else True
        # no two labels of a map overlap
        boxes = browser.execute_script(
            "return Array.from(document.querySelectorAll('svg.area'),"
            " s => Array.from(s.querySelectorAll('text.code'),"
            " t => { var b = t.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; }));"
        )
        for svg in boxes:
            for a, b in itertools.combinations(svg, 2):
                assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (ccg, a, b)
    # a PCN of more than 20 practices continues on a second page under the same header
    practices = select_ccgs(slice_practices, ["99G"])
    plan = Plan(dict.fromkeys(practices.index, "99G-all"))
    assert len(practices) > 20
    write_maps(
        practices,
        slice_graph,
        plan,
        tmp_path,
        groups=group_table(plan, practices),
        options=MapOptions(boundaries=slice_boundaries),
    )
    assert pdf_pages(browser, tmp_path / "99G-pcns.html") == 2
    assert "99G-all (continued, page 2 of 2)" in browser.find_element("tag name", "body").text
    assert "1 practice," not in browser.find_element("tag name", "body").text


def test_printed_pages_carry_provenance_and_the_out_of_band_flag(browser, proposed):
    open_page(browser, proposed / "99F-pcns.html")
    sheets = browser.execute_script(
        "return Array.from(document.querySelectorAll('section.sheet'), s => s.innerText);"
    )
    assert sheets and all("footprint version: 9.9.9" in s and "data date: 2022-01-01" in s for s in sheets)
    toc = browser.find_element("css selector", "nav.toc").text
    assert "Rayleigh PCN (new) (99F-new): 7 practices, 59,463 patients \u26a0 out of band: 9,463 above" in toc


def test_phone_layout_keeps_the_finder_uncovered(browser, proposed):
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        open_page(browser, proposed / "99F.html", "F81032")
        popup_text(browser)
        geometry = browser.execute_script(
            """
            function box(sel) { var r = document.querySelector(sel).getBoundingClientRect();
              return [r.left, r.top, r.right, r.bottom]; }
            var input = document.querySelector('.fp-finder input'), r = input.getBoundingClientRect();
            return {finder: box('.fp-finder'), layers: box('.leaflet-control-layers'),
              legend: box('.fp-legend'), summary: box('.fp-summary'),
              popup: box('.leaflet-popup-content-wrapper'),
              hit: document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === input,
              expanded: document.querySelectorAll('.leaflet-control-layers-expanded').length,
              width: window.innerWidth, lang: document.documentElement.lang};
            """
        )
        assert geometry["width"] == 390 and geometry["lang"] == "en"
        assert geometry["hit"], geometry  # nothing covers the finder's box
        assert geometry["expanded"] == 0  # the layer switcher is collapsed to its button

        def apart(a, b):
            return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]

        assert apart(geometry["finder"], geometry["layers"]), geometry
        assert apart(geometry["legend"], geometry["summary"]), geometry
        assert geometry["popup"][0] >= 0 and geometry["popup"][2] <= 390, geometry
        assert geometry["popup"][1] >= geometry["finder"][3], geometry  # the popup opens below the finder
        assert_offline_and_clean(browser)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_keyboard_finder_first_announced_and_esc_closes(browser, proposed):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, proposed / "99F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 0;")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.execute_script("return document.activeElement.matches('.fp-finder input');")
    ActionChains(browser).send_keys("F81075", Keys.ENTER).perform()
    popup_text(browser)
    status = browser.find_element("css selector", ".fp-finder [aria-live]")
    assert status.get_attribute("aria-live") == "polite"
    assert status.text.startswith("Showing The Hollies (F81075), ")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_for(browser, "return document.querySelectorAll('.leaflet-popup').length === 0;")
    # no focus rectangle on an area clicked with the mouse
    browser.execute_script(
        "document.querySelector('path.fp-area').dispatchEvent(new MouseEvent('click', {bubbles: true}));"
    )
    outline = browser.execute_script(
        "var a = document.activeElement; return a.tagName + ' ' + getComputedStyle(a).outlineStyle;"
    )
    assert not outline.startswith("path ") or outline.endswith("none"), outline
    assert_offline_and_clean(browser)


def test_meaning_not_by_colour_alone(browser, maps):
    open_page(browser, maps / "99F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 0;")
    hatched = browser.execute_script(
        "return Array.from(document.querySelectorAll('path.fp-hatch'), p => p.getAttribute('fill'));"
    )
    assert hatched == ["url(#fp-hatch)"]  # Rayleigh and District, 55,949: out of band
    dashes = browser.execute_script(
        "return Array.from(document.querySelectorAll('path.fp-problem-ring'),"
        " p => p.getAttribute('stroke-dasharray'));"
    )
    assert dashes and all(dashes)


# --------------------------------------------------------------------------- issues 12 and 13


@pytest.fixture(scope="module")
def compared(slice_practices, slice_graph, slice_boundaries, tmp_path_factory) -> Path:
    """Comparison pages of the current PCNs and the proposed plan of :func:`proposed`."""
    from footprint.cli.maps import draw_compare

    current = plan_from_practices(slice_practices)
    code, _, to = MOVED
    proposed_plan = Plan({**current.assignment, code: to})
    out = tmp_path_factory.mktemp("compare")
    draw_compare(
        slice_practices,
        slice_graph,
        {"current": current, "proposed": proposed_plan},
        out,
        rules=Rules(),
        boundaries=slice_boundaries,
        ccgs=["99F"],
        title="Plans compared",
    )
    return out


def centres(driver) -> list[list[float]]:
    return driver.execute_script(
        "return window.fpCompareMaps.map(m => [m.getCenter().lat, m.getCenter().lng, m.getZoom()]);"
    )


def test_compare_page_moves_the_maps_together_and_rings_the_differences(browser, compared):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, compared / "99F.html")
    wait_for(browser, "return window.fpCompareMaps && document.querySelectorAll('path.fp-practice').length;")
    assert count(browser, ".fp-frame > .folium-map") == 2
    assert [h.text for h in browser.find_elements("css selector", ".fp-cell h2")] == ["current", "proposed"]
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('.folium-map'), e => e.getBoundingClientRect().width);"
    )
    assert all(w > 500 for w in widths)  # side by side, each about half the window
    first = centres(browser)
    assert first[0] == first[1]
    # dragging the right-hand map moves the left-hand one to the same view
    right = browser.find_elements("css selector", ".folium-map")[1]
    ActionChains(browser).move_to_element_with_offset(right, 0, 60).click_and_hold().move_by_offset(
        -150, 90
    ).move_by_offset(-10, 5).release().perform()
    # the drag, then its inertia, end with both maps at one view (within a pixel) away from the first
    wait_for(browser, "return window.fpCompareMaps[1].getCenter().lat !== arguments[0];", first[1][0])
    time.sleep(1)
    apart = browser.execute_script(
        "var m = window.fpCompareMaps;"
        "return m[0].project(m[0].getCenter()).distanceTo(m[0].project(m[1].getCenter()));"
    )
    after = centres(browser)
    assert apart < 1.5 and after[0][2] == after[1][2] and after[1] != first[1]
    browser.execute_script("window.fpCompareMaps[0].setView([51.58, 0.6], 14, {animate: false});")
    assert centres(browser)[1] == [51.58, 0.6, 14]
    # the practices in different company are ringed on both maps, with their group in each plan
    rings = browser.execute_script(
        "return Array.from(document.querySelectorAll('.fp-frame'),"
        " f => f.querySelectorAll('path.fp-overlay-ring').length);"
    )
    head = browser.find_element("css selector", ".fp-compare-head").text
    differ = int(head.split(" practice(s) in different company")[0].split()[-1])
    assert rings == [differ, differ] and differ >= 1
    assert_offline_and_clean(browser)
    code, before, after_pcn = MOVED
    open_page(browser, compared / "99F.html", code)
    popup = popup_text(browser)
    assert popup.startswith("P A Patel Surgery")
    assert f"current: Benfleet PCN ({before})" in popup and f"({after_pcn})" in popup.split("proposed:")[1]
    legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
    assert "practice in different company in some plan" in legend
    open_page(browser, compared / "index.html")
    links = browser.execute_script("return Array.from(document.querySelectorAll('a'), a => a.href);")
    assert [Path(link).name for link in links] == ["99F.html"]


@pytest.fixture(scope="module")
def contested(slice_practices, slice_graph, slice_boundaries, tmp_path_factory) -> Path:
    """Maps of the current PCNs with each practice coloured by how contested it is among 3 plans."""
    import pandas as pd

    from footprint.cli.alternatives import contested_overlay
    from footprint.cli.maps import draw

    counts = pd.Series(0, index=slice_practices.index)
    counts[["F81032", "F81075"]] = [2, 1]
    out = tmp_path_factory.mktemp("contested")
    draw(
        slice_practices,
        slice_graph,
        plan_from_practices(slice_practices),
        out,
        rules=Rules(),
        overlays=[contested_overlay(counts, 3)],
        boundaries=slice_boundaries,
        ccgs=["99F"],
        processes=1,
    )
    return out


def test_alternatives_overlay_colours_practices_by_how_contested_with_a_legend(browser, contested):
    from footprint.cli.alternatives import CONTESTED_COLOURS, SETTLED_COLOUR

    open_page(browser, contested / "99F.html")
    wait_for(browser, "return document.querySelectorAll('path.fp-overlay-ring').length === 23;")
    strokes = browser.execute_script(
        "return Array.from(document.querySelectorAll('path.fp-overlay-ring'), p => p.getAttribute('stroke'));"
    )
    assert strokes.count(SETTLED_COLOUR) == 21
    assert sorted(set(strokes) - {SETTLED_COLOUR}) == sorted(CONTESTED_COLOURS[-2:])
    legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
    assert "settled: in the same company in every plan" in legend
    assert "contested: in other company in 2 of the 2 other plan(s)" in legend
    assert_offline_and_clean(browser)
    open_page(browser, contested / "99F.html", "F81032")
    assert "Alternatives\tcontested: in other company in 2 of the 2 other plan(s)" in popup_text(browser)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """``footprint share`` on the slice, with its maps."""
    from footprint.cli import main
    from tests.conftest import DATA

    out = tmp_path_factory.mktemp("share")
    args = ["share", "--practices", DATA / "practices_slice.csv", "--boundaries", DATA / "ccg_slice.geojson"]
    args += ["--impute-missing", "--no-cache", "--out", out / "out", "--maps", out / "maps"]
    assert main([str(a) for a in args]) == 0
    return out


def test_share_report_links_maps_with_lines_from_each_base(browser, shared):
    import csv

    open_page(browser, shared / "out" / "report.html")
    link = browser.find_element("link text", "99F")
    link.click()
    wait_for(browser, "return location.href.endsWith('/maps/99F.html');")
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 0;")
    with (shared / "out" / "arrangement.csv").open() as fh:
        clusters = [r["cluster"] for r in csv.DictReader(fh)]
    assert any(clusters.count(c) > 1 for c in clusters)  # some PCNs share a director
    rings = count(browser, "path.fp-overlay-ring")  # the bases
    lines = count(browser, "path.fp-overlay") - rings  # base to member practice
    assert rings >= 1 and lines > rings
    legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
    assert "base of a shared clinical director, with a line to each member practice" in legend
    assert_offline_and_clean(browser)


# --------------------------------------------------------------------------- issue 25

#: The issue's practices' CCGs and England's corners: Northumberland, Kernow (Port Isaac L82003),
#: Birmingham and Solihull (M85011), Kent and Medway, Shropshire and Telford (Shrewsbury M82006).
REAL_CCGS = ("00L", "11N", "15E", "91Q", "M2L0M")
#: What a practice manager's laptop shows of a page.
LAPTOP = {"width": 1366, "height": 757, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """The current PCNs of :data:`REAL_CCGS` from the shipped data, drawn as ``footprint map`` draws them."""
    from footprint.cli.maps import draw
    from footprint.graph import graph_from_practices
    from footprint.load import read_boundaries, read_practices

    practices = select_ccgs(read_practices(), REAL_CCGS)
    boundaries = read_boundaries()
    graph = graph_from_practices(practices, boundaries, cache_dir=tmp_path_factory.mktemp("cache"))
    out = tmp_path_factory.mktemp("real")
    plan = plan_from_practices(practices)
    draw(practices, graph, plan, out, rules=Rules(), boundaries=boundaries, name="Current PCNs", processes=2)
    return out


@pytest.fixture
def laptop(browser) -> Iterator:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", LAPTOP)
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def phone(browser) -> Iterator:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


#: Boxes ([left, top, right, bottom]) of the map's panels, controls and finder, and of what is named.
BOXES = """
function box(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
window.fpBoxes = function () {
  var panels = Array.from(document.querySelectorAll('.leaflet-control, .fp-finder'))
    .filter(e => e.offsetWidth && e.offsetHeight).map(box);
  var places = Array.from(document.querySelectorAll('.fp-place span'), s => [s.innerText, box(s)]);
  var popup = document.querySelector('.leaflet-popup');
  return {panels: panels, places: places, popup: popup ? box(popup) : null};
};
"""


def apart(a, b) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def boxes(driver) -> dict:
    driver.execute_script(BOXES)
    return driver.execute_script("return window.fpBoxes();")


def towns_of_ccg(ccg: str, people: int = 10_000) -> set[str]:
    import shapely

    from footprint.load import read_boundaries

    places = read_places(min_population=people)
    polygon = read_boundaries().loc[ccg, "geometry"]
    return set(places["name"][shapely.contains_xy(polygon, places["x"], places["y"])])


def test_a_ccg_map_opens_with_every_town_of_10000_named_and_none_under_a_panel(laptop, real):
    for ccg in ("M2L0M", "11N"):
        open_page(laptop, real / f"{ccg}.html")
        wait_for(laptop, "return document.querySelectorAll('.fp-place-own').length > 0;")
        time.sleep(0.3)  # the labels are laid out once the map has settled
        shown = boxes(laptop)
        names = {name for name, _ in shown["places"]}
        assert towns_of_ccg(ccg) <= names, (ccg, towns_of_ccg(ccg) - names)
        for name, label in shown["places"]:
            assert all(apart(label, panel) for panel in shown["panels"]), (ccg, name, label, shown["panels"])
    assert {"Shrewsbury", "Oswestry", "Ludlow", "Telford"} <= towns_of_ccg("M2L0M")
    assert_offline_and_clean(laptop)


def test_the_finder_marks_you_are_here_among_named_places(laptop, real):
    from selenium.webdriver.common.keys import Keys

    open_page(laptop, real / "15E.html")
    box = wait_for(laptop, "return document.querySelector('.fp-finder input');")
    box.send_keys("M85011", Keys.ENTER)
    assert popup_text(laptop).startswith("The Swan Medical Centre")
    assert laptop.find_element("css selector", ".fp-here-label").text == "You are here"
    shown = boxes(laptop)
    clear = [
        n
        for n, b in shown["places"]
        if apart(b, shown["popup"]) and all(apart(b, p) for p in shown["panels"])
    ]
    assert clear, shown  # a town or village is named around the practice, clear of its popup
    laptop.find_element("tag name", "body").send_keys(Keys.ESCAPE)
    wait_for(laptop, "return document.querySelectorAll('.leaflet-popup').length === 0;")
    assert count(laptop, "path.fp-here") == 1 and count(laptop, ".fp-here-label") == 1  # still marked
    assert_offline_and_clean(laptop)


def test_practice_popup_lists_members_links_its_page_and_shows_neighbours_whole(laptop, real):
    from footprint.load import read_practices
    from footprint.places import display_name

    open_page(laptop, real / "M2L0M.html", "M82006")
    popup = popup_text(laptop)
    assert popup.startswith("Riverside Med.Practice") and "PCN\tShrewsbury PCN (U60057)" in popup
    practices = read_practices()
    for code, row in practices[practices["pcn_code"] == "U60057"].iterrows():
        assert f"{display_name(row['practice_name'])}\t{code}\t{row['list_size']:,}" in popup
    link = laptop.find_element("partial link text", "Printable page of Shrewsbury PCN")
    assert link.get_attribute("href").endswith("/M2L0M-pcns.html#pcn-U60057")
    geometry = laptop.execute_script(
        """var c = document.querySelector('.leaflet-popup-content');
        var n = Array.from(c.querySelectorAll('p')).find(p => p.innerText.startsWith('Neighbours'));
        var r = n.getBoundingClientRect();
        return {scroll: c.scrollHeight - c.clientHeight, bottom: r.bottom, height: window.innerHeight};"""
    )
    assert geometry["scroll"] <= 1 and geometry["bottom"] <= geometry["height"], (
        geometry
    )  # no inner scrolling
    shown = boxes(laptop)
    assert all(apart(shown["popup"], panel) for panel in shown["panels"]), shown
    assert_offline_and_clean(laptop)


def test_the_overview_leaves_england_clear_of_its_panels_at_1366x757(laptop, real):
    open_page(laptop, real / "index.html")
    wait_for(laptop, "return document.querySelectorAll('path.fp-ccg').length > 0;")
    under = laptop.execute_script(
        """var panels = Array.from(document.querySelectorAll('.folium-map .leaflet-control'))
          .filter(e => e.offsetWidth).map(e => e.getBoundingClientRect());
        var hits = [];
        document.querySelectorAll('path.fp-ccg').forEach(function (path) {
          var m = path.getScreenCTM(), n = path.getTotalLength();
          for (var l = 0; l < n; l += 4) {
            var p = path.getPointAtLength(l);
            var x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
            panels.forEach(function (r) {
              if (x > r.left && x < r.right && y > r.top && y < r.bottom) { hits.push([x, y]); }
            });
          }
        });
        return hits;"""
    )
    assert not under, under[:5]  # no coast or CCG line of Cornwall, Kent or Northumberland under a panel
    assert count(laptop, ".folium-map .fp-summary") == 0  # England's figures are beside the map
    assert "Practices" in laptop.find_element("css selector", ".fp-england").text
    assert_offline_and_clean(laptop)


def search_page(tmp_path: Path) -> Path:
    """A page that exposes the maps' shared search as ``window.fpSearch(entries, text)``."""
    from footprint.render._base import ENV

    script = ENV.get_template("practice_search.js").render()
    page = tmp_path / "search.html"
    page.write_text(
        "<!DOCTYPE html><html lang='en'><head><title>search</title></head><body><script>(function () {"
        + script
        + "window.fpSearch = function (entries, text) { return search(entries, text).map(e => e.code); };"
        + "})();</script></body></html>"
    )
    return page


def test_search_reads_abbreviations_apostrophes_word_order_and_postcode_districts(browser, tmp_path):
    entries = [
        ("M82006", "Riverside Med.Practice", "SY1 1PQ", "Shrewsbury"),
        ("M82048", "Belvidere Medical Pract.", "SY2 5LS", "Shrewsbury"),
        ("M82002", "Mytton Oak Medical Pract.", "SY3 5LZ", "Shrewsbury"),
        ("P84025", "St George's Medical Centre", "M40 5HP", "Manchester"),
        ("M85011", "The Swan Medical Centre", "B25 8AA", "Acocks Green"),
        ("X1", "Southall Practice", "UB2 5AB", "Southall"),
        ("X2", "Cottenham Surgery", "CB25 9AB", "Cottenham"),
        ("X3", "City Surgery", "B2 5AA", "Birmingham"),
        ("X4", "Medway Practice", "ME7 1AA", "Gillingham"),
    ]
    open_page(browser, search_page(tmp_path))
    rows = [{"code": c, "name": n, "postcode": p, "town": t} for c, n, p, t in entries]

    def found(text: str) -> list[str]:
        return browser.execute_script("return window.fpSearch(arguments[0], arguments[1]);", rows, text)

    assert found("Belvidere Medical Practice") == ["M82048"]
    assert found("Mytton Oak Medical Practice") == ["M82002"]
    assert found("Riverside Medical Practice") == found("practice riverside medical") == ["M82006"]
    assert found("St Georges") == found("Saint George's") == found("st george") == ["P84025"]
    assert found("Swan Med Ctr") == found("swan medical centre") == ["M85011"]
    assert found("B25") == found("b25 8") == found("B258AA") == ["M85011"]  # not UB2 5.., CB25 .., B2 5..
    assert sorted(found("B2")) == ["M85011", "X3"]  # a district from its start: B2 and B25
    assert "X4" in found("Med") and "M82048" in found("Med")  # as people type "Medway" or "Medical"
    assert set(found("Shrewsbury")) == {"M82006", "M82048", "M82002"}  # a town's practices
    assert_offline_and_clean(browser)


def test_search_as_people_type_and_on_another_ccgs_map(laptop, real):
    open_page(laptop, real / "M2L0M.html")
    box = wait_for(laptop, "return document.querySelector('.fp-finder input');")
    box.send_keys("Belvidere Medical Practice")  # no Enter: the matches are listed as people type
    buttons = wait_for(
        laptop,
        "var b = document.querySelectorAll('.fp-find-result button');"
        "return b.length && Array.from(b, x => x.innerText);",
    )
    assert buttons == ["Belvidere Medical Pract. (M82048, SY2 5LS)"]
    box.clear()
    box.send_keys("The Swan Medical Centre")  # a Birmingham practice, on another CCG's map
    # the practice named as typed comes first
    link = wait_for(laptop, "return document.querySelector('.fp-find-result li a');")
    item = laptop.find_element("css selector", ".fp-find-result li").text
    assert (
        "NHS Birmingham and Solihull CCG (15E)" in item
        and "not on this map" in laptop.find_element("css selector", ".fp-find-status").text
    )
    assert link.get_attribute("href").endswith("/15E.html#M85011")
    link.click()
    wait_for(laptop, "return location.href.endsWith('15E.html#M85011');")
    assert popup_text(laptop).startswith("The Swan Medical Centre")
    open_page(laptop, real / "index.html")
    box = wait_for(laptop, "return document.getElementById('fp-england-find');")
    box.send_keys("Riverside Medical Practice")
    wait_for(laptop, "return document.querySelectorAll('.fp-index .fp-find-list li').length > 0;")
    links = laptop.execute_script(
        "return Array.from(document.querySelectorAll('.fp-find-list a'), a => a.href);"
    )
    assert any(link.endswith("M2L0M.html#M82006") for link in links) and any(
        "91Q.html#G82106" in x for x in links
    )
    assert_offline_and_clean(laptop)


def test_keyboard_reaches_the_printable_page_in_five_tabs_with_a_visible_outline(laptop, proposed):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(laptop, proposed / "99F.html")
    wait_for(laptop, "return document.querySelectorAll('path.fp-practice').length > 0;")
    ActionChains(laptop).send_keys(Keys.TAB).perform()
    ActionChains(laptop).send_keys("F81075", Keys.ENTER).perform()
    popup_text(laptop)
    assert laptop.execute_script("return !!document.activeElement.closest('.leaflet-popup');")  # focus in it
    laptop.execute_script("document.querySelector('.fp-finder input').focus();")
    stops = []
    for _ in range(5):
        ActionChains(laptop).send_keys(Keys.TAB).perform()
        stops.append(
            laptop.execute_script(
                """var a = document.activeElement, s = getComputedStyle(a);
                var label = a.getAttribute('aria-label') || a.getAttribute('title') || a.innerText ||
                  (a.labels && a.labels.length ? a.labels[0].innerText : '');
                return [a.tagName, label.trim().slice(0, 60), s.outlineStyle, parseFloat(s.outlineWidth)];"""
            )
        )
        if stops[-1][1].startswith("Printable page"):
            break
    assert stops[-1][1] == "Printable page of Benfleet PCN", stops  # The Hollies' PCN
    assert all(tag != "path" and label for tag, label, _, _ in stops), stops  # labelled, no map shapes
    assert stops[-1][2] == "solid" and stops[-1][3] >= 2, stops  # a visible focus outline
    shown = boxes(laptop)
    assert all(apart(shown["popup"], panel) for panel in shown["panels"]), shown
    # no shape of the map is a tab stop: 40 Tabs from the finder meet none
    laptop.execute_script("document.querySelector('.fp-finder input').focus();")
    for _ in range(40):
        ActionChains(laptop).send_keys(Keys.TAB).perform()
        assert laptop.execute_script("return document.activeElement.tagName.toLowerCase();") != "path"
    assert_offline_and_clean(laptop)


def test_phone_index_map_and_page_fit_the_screen(phone, maps, real):
    open_page(phone, real / "index.html")
    wait_for(phone, "return document.querySelectorAll('path.fp-area').length > 0;")
    index = phone.execute_script(
        """var t = document.querySelector('.fp-index table thead').parentNode;
        var h = document.querySelector('.fp-index .fp-hint');
        var print = Array.from(t.querySelectorAll('th')).find(th => th.innerText === 'Print');
        return {table: t.scrollWidth, print: print.getBoundingClientRect().right, width: window.innerWidth,
          map: document.querySelector('.folium-map').getBoundingClientRect().top,
          hint: [h.scrollWidth, h.clientWidth, h.getBoundingClientRect().right]};"""
    )
    assert index["table"] <= index["width"] and index["print"] <= index["width"], index
    assert index["map"] < 600, index  # the overview comes before the list of CCGs
    assert index["hint"][0] <= index["hint"][1] and index["hint"][2] <= index["width"], index
    open_page(phone, maps / "99F.html")
    wait_for(phone, "return document.querySelectorAll('path.fp-practice').length > 0;")
    ccg_map = phone.execute_script(
        """function box(s) {
          var r = document.querySelector(s).getBoundingClientRect();
          return [r.left, r.top, r.right, r.bottom]; }
        var h = document.querySelector('.fp-finder .fp-hint');
        return {scale: box('.leaflet-control-scale'), credit: box('.leaflet-control-attribution'),
          hint: [h.scrollWidth, h.clientWidth, h.getBoundingClientRect().right, h.innerText],
          placeholder: document.querySelector('.fp-finder input').placeholder};"""
    )
    assert apart(ccg_map["scale"], ccg_map["credit"]), ccg_map
    assert ccg_map["hint"][0] <= ccg_map["hint"][1] and ccg_map["hint"][2] <= 390, ccg_map  # the hint whole
    assert ccg_map["hint"][3] == "Name, ODS code, postcode or town" and not ccg_map["placeholder"]
    open_page(phone, maps / "99F-pcns.html")
    page = phone.execute_script(
        """var s = document.querySelector('section.sheet').getBoundingClientRect();
        var codes = Array.from(document.querySelectorAll('svg.area text.code'),
          t => t.getBoundingClientRect().height);
        return {left: s.left, right: s.right, width: window.innerWidth,
          label: Math.min.apply(null, codes)};"""
    )
    assert page["left"] >= 8 and page["right"] <= page["width"] - 8, page  # a margin
    assert page["label"] >= 9, page  # ODS codes readable on the map (it scrolls sideways)
    assert_offline_and_clean(phone)


def pdf_text(driver, path: Path, fragment: str = "", **options) -> list[str]:
    """Print ``path`` (at ``fragment``) to PDF and return each page's text."""
    import base64
    import io
    import unicodedata

    from pypdf import PdfReader

    open_page(driver, path, fragment)
    wait_for(driver, "return document.readyState === 'complete';")
    pdf = driver.execute_cdp_cmd(
        "Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True, **options}
    )
    pages = PdfReader(io.BytesIO(base64.b64decode(pdf["data"]))).pages
    return [unicodedata.normalize("NFKC", page.extract_text()) for page in pages]  # "ﬂ" read as "fl"


def test_a_network_signs_its_page_on_one_a4_sheet_up_to_12_members(
    browser, slice_practices, slice_graph, slice_boundaries, tmp_path
):
    practices = select_ccgs(slice_practices, ["99G"])
    codes = sorted(practices.index)
    plan = Plan({c: ("twelve" if i < 12 else "more") for i, c in enumerate(codes)})
    write_maps(
        practices,
        slice_graph,
        plan,
        tmp_path,
        groups=group_table(plan, practices),
        options=MapOptions(boundaries=slice_boundaries, places=read_places()),
    )
    twelve = pdf_text(browser, tmp_path / "99G-pcns.html", "pcn-twelve")
    assert len(twelve) == 1  # 12 members: one A4 page with the map, a row each to sign, the director's line
    text = " ".join(twelve[0].split())
    for heading in ("Member practice", "ODS code", "List size", "Signature", "Name of signatory", "Date"):
        assert heading in text
    assert "Clinical director" in text and "Nominated payee" in text
    assert all(code in text for code in codes[:12])
    assert count(browser, "#pcn-twelve table.members tbody tr") == 12
    more = pdf_text(browser, tmp_path / "99G-pcns.html", "pcn-more")
    assert len(codes) - 12 > 12 and len(more) == 2  # the signature table continues on a second page
    assert "(continued, page 2 of 2)" in more[1] and "Clinical director" in more[1]


def test_the_printed_page_is_titled_after_its_network_and_its_map_names_places(browser, proposed):
    pages = pdf_text(
        browser,
        proposed / "99F-pcns.html",
        "pcn-U27924",
        displayHeaderFooter=True,
        headerTemplate='<span class="title" style="font-size:9px"></span>',
        footerTemplate="<span></span>",
    )
    assert browser.title == "Benfleet PCN (U27924): PCN page"
    assert len(pages) == 1 and "Benfleet PCN (U27924): PCN page" in pages[0]  # in the browser's print header
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        printed = browser.execute_script(
            """var a = document.getElementById('pcn-U27924'), s = a.querySelector('svg.area');
            var sheet = a.querySelector('section.sheet').getBoundingClientRect();
            var r = s.getBoundingClientRect();
            return {svg: r.width, sheet: sheet.width,
              places: Array.from(s.querySelectorAll('text.place'), t => t.textContent),
              codes: Array.from(s.querySelectorAll('text.code, text.place'), t => { var b = t.getBBox();
                return [b.x, b.y, b.x + b.width, b.y + b.height]; })};"""
        )
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert abs(printed["svg"] - printed["sheet"]) <= 2, printed  # the map fills the page's width
    assert "South Benfleet" in printed["places"] and len(printed["places"]) >= 2, printed["places"]
    for a, b in itertools.combinations(printed["codes"], 2):
        assert apart(a, b), (a, b)  # place names and ODS codes never overlap
    assert_offline_and_clean(browser)


# --------------------------------------------------------------------------- issue 26: the share map

#: The window sizes of issue 26: a laptop and a phone.
SHARE_SIZES = {
    "laptop": {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False},
    "phone": {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
}


@pytest.fixture(scope="module")
def shared_real(tmp_path_factory) -> Path:
    """``footprint share --ccg 15E D2P2L`` on the shipped data (Birmingham and the Black Country)."""
    from footprint.cli import main

    out = tmp_path_factory.mktemp("share-real")
    args = ["share", "--ccg", "15E", "D2P2L", "--no-cache", "--out", out / "out", "--maps", out / "maps"]
    assert main([str(a) for a in args]) == 0
    return out


#: Points of the map's own CCG boundary (its tooltip ends with the code) under a visible control.
CCG_UNDER_PANELS = """
var code = arguments[0];
var map = Object.values(window).find(v => v instanceof L.Map);
var ctl = Array.from(document.querySelectorAll('.leaflet-control, .fp-finder'))
  .filter(e => e.offsetWidth && e.offsetHeight).map(e => [e.className, e.getBoundingClientRect()]);
var paths = [], hits = [];
map.eachLayer(function (l) {
  var tip = l.feature && l.feature.properties && l.feature.properties.tip;
  if (tip && l._path && tip.endsWith('(' + code + ')')) { paths.push(l._path); }
});
paths.forEach(function (path) {
  var m = path.getScreenCTM(), n = path.getTotalLength();
  for (var k = 0; k < n; k += 4) {
    var p = path.getPointAtLength(k);
    var x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
    if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) { hits.push(['off screen', x, y]); continue; }
    ctl.forEach(function (c) {
      var r = c[1];
      if (x > r.left && x < r.right && y > r.top && y < r.bottom) { hits.push([c[0], x, y]); }
    });
  }
});
return {paths: paths.length, hits: hits};
"""


def test_share_map_opens_on_the_sharing_with_its_posts_and_the_report_a_few_tabs_away(browser, shared_real):
    """Issue 26: no post count or report link in the info box; problems and hatching shown by default."""
    from selenium.webdriver.common.keys import Keys

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", SHARE_SIZES["laptop"])
    try:
        open_page(browser, shared_real / "maps" / "15E.html")
        wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 100;")
        switcher = browser.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
            ".map(l => [l.innerText.trim(), l.querySelector('input').checked]);"
        )
        shown = {name.split(" (")[0]: on for name, on in switcher}
        assert shown["Shared clinical directors"] is True
        assert shown["Practices with a problem"] is False and shown["Out of band, hatched"] is False
        assert count(browser, "path.fp-problem-ring") == 0 and count(browser, "path.fp-hatch") == 0
        assert count(browser, "path.fp-overlay-ring") >= 10  # the bases, each ringed
        summary = browser.find_element("css selector", ".fp-summary").text
        assert re.search(r"CD posts\s+\d+ for \d+ PCNs", summary), summary
        assert "Distances\tstraight lines, not roads" in summary or "straight lines, not roads" in summary
        link = browser.find_element("css selector", ".fp-summary a.fp-overlay-link")
        assert link.get_attribute("href").endswith("/out/report.html")
        browser.find_element("css selector", ".fp-finder input").click()  # the first stop, as a page opens
        tabs = 0
        while browser.switch_to.active_element != link and tabs < 30:
            browser.switch_to.active_element.send_keys(Keys.TAB)
            tabs += 1
        # after the finder, zoom and the layer switcher: the summary's heading, its one link
        assert browser.switch_to.active_element == link and tabs <= 16, tabs
        outline = browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle;", link)
        assert outline != "none"
        assert_offline_and_clean(browser)
        link.send_keys(Keys.ENTER)
        wait_for(browser, "return location.href.endsWith('/out/report.html');")
        assert "Clinical-director sharing" in browser.title
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize("size", sorted(SHARE_SIZES))
def test_share_map_keeps_its_ccg_clear_of_the_panels_and_the_open_legend(browser, shared_real, size):
    """Issue 26: the legend covered the CCG on a 1366x768 laptop and a 390x844 phone."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", SHARE_SIZES[size])
    try:
        for ccg in ("15E", "D2P2L"):
            open_page(browser, shared_real / "maps" / f"{ccg}.html")
            wait_for(browser, "return document.querySelectorAll('path.fp-practice').length > 100;")
            time.sleep(0.3)
            found = browser.execute_script(CCG_UNDER_PANELS, ccg)
            assert found["paths"] >= 1 and not found["hits"], (size, ccg, found["hits"][:5])
            browser.find_element("css selector", ".fp-legend > details > summary").click()
            wait_for(browser, "return document.querySelector('.fp-legend > details').open;")
            time.sleep(0.3)
            legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
            assert "straight lines, not roads" in legend
            found = browser.execute_script(CCG_UNDER_PANELS, ccg)
            assert not found["hits"], (size, ccg, "legend open", found["hits"][:5])
        assert_offline_and_clean(browser)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_share_index_lists_each_ccgs_posts_linked_to_its_map_and_the_report(browser, shared_real):
    """Issue 26: the England index had no sharing list."""
    open_page(browser, shared_real / "maps" / "index.html")
    section = wait_for(browser, "return document.querySelector('.fp-index-overlay');")
    text = section.text
    assert "Shared clinical directors" in text and "straight lines, not roads" in text
    for ccg in ("15E", "D2P2L"):
        row = section.find_element("partial link text", f"({ccg})")
        assert row.get_attribute("href").endswith(f"/maps/{ccg}.html")
    assert re.search(r"\(15E\)\s+\d+ for \d+ PCNs", text), text
    section.find_element("link text", "Report of the CD sharing").click()
    wait_for(browser, "return location.href.endsWith('/out/report.html');")
    browser.find_element("partial link text", "every CCG's CD posts on one page").click()
    wait_for(browser, "return location.href.endsWith('/maps/index.html');")
    assert_offline_and_clean(browser)
