"""Open the written maps in headless Chromium with the network blocked.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); selenium is
pointed at them so that it never downloads a browser or driver.
"""

from __future__ import annotations

import functools
import itertools
import json
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
    assert browser.execute_script("return document.scripts.length;") == 0
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
    assert zoom(browser) < 13
    browser.execute_script(
        "Object.values(window).find(v => v instanceof L.Map).setZoom(14, {animate: false});"
    )
    wait_for(browser, "return document.querySelectorAll('.fp-place').length > arguments[0];", len(first))
    # labels are not interactive and not in the tab order
    assert count(browser, ".fp-place[tabindex]") == 0 and count(browser, ".fp-place.leaflet-interactive") == 0
    legend = browser.find_element("css selector", ".fp-legend").get_attribute("textContent")
    assert "GeoNames" in legend and "CC-BY 4.0" in legend
    assert_offline_and_clean(browser)


def test_practice_link_opens_its_popup_with_members_current_pcn_and_move(browser, proposed):
    code, _, _ = MOVED
    open_page(browser, proposed / "99F.html", code)
    popup = popup_text(browser)
    assert popup.startswith("P A PATEL SURGERY")
    assert "PCN\tRayleigh PCN (99F-new)" in popup  # a new group named after its biggest member's town
    assert "Current PCN\tBENFLEET PCN (U27924)" in popup
    assert "Moves\tyes, from BENFLEET PCN (U27924) to Rayleigh PCN (99F-new)" in popup
    assert "With 6 other practices: AUDLEY MILLS SURGERY (F81123);" in popup
    # the changes layer: a ring around the moved practice and a line to its new PCN's centre
    assert count(browser, "path.fp-overlay-ring") == 1 and count(browser, "path.fp-overlay") == 1
    browser.get((proposed / "99F.html").as_uri() + "#F81075")
    wait_for(
        browser,
        "var p = document.querySelector('.leaflet-popup-content');"
        "return p && p.innerText.indexOf('THE HOLLIES') === 0;",
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
    assert popup_text(browser).startswith("THE HOLLIES")
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
    assert "Rayleigh PCN (99F-new): 7 practices, 59,463 patients \u26a0 out of band" in toc


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
    assert status.text.startswith("Showing THE HOLLIES (F81075), ")
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
    assert popup.startswith("P A PATEL SURGERY")
    assert f"current: BENFLEET PCN ({before})" in popup and f"({after_pcn})" in popup.split("proposed:")[1]
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
