"""Shared fixtures: a hand-drawn practice grid and a small real slice of three CCGs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
import pytest
import shapely

from footprint.graph import WITHIN_CCG, ccg_subgraph, graph_from_practices
from footprint.load import CRS, read_boundaries, read_practices

DATA = Path(__file__).parent / "data"
#: Debian's Chromium and its driver, for the browser tests (installed by .ci/run).
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Seconds a browser test waits for a page or a condition, unless it says.
WAIT_S = 20
SLICE_CCGS = ("01F", "99F", "99G")

#: Origin of the hand-drawn grids: a field near Leicester, well inside England.
X0, Y0 = 450_000.0, 300_000.0
KM = 1_000.0


def write_practices(path: Path, rows: list[dict]) -> Path:
    """Write practice rows as a user CSV (easting/northing) and return its path."""
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_boxes(path: Path, boxes: dict[str, tuple[float, float, float, float]]) -> Path:
    """Write CCG boxes (x0, y0, x1, y1 in km from the grid origin) as a GeoPackage."""
    frame = gpd.GeoDataFrame(
        {"ccg_code": list(boxes), "ccg_name": [f"Test CCG {c}" for c in boxes]},
        geometry=[
            shapely.box(X0 + a * KM, Y0 + b * KM, X0 + c * KM, Y0 + d * KM) for a, b, c, d in boxes.values()
        ],
        crs=CRS,
    )
    frame.to_file(path, driver="GPKG")
    return path


def grid_rows(sizes: list[list[int]], *, ccg: str = "GRD", dx: float = 0.0) -> list[dict]:
    """Practices at the points of a grid 1 km apart, row letters A, B, C from the north."""
    rows = []
    for r, line in enumerate(sizes):
        for c, size in enumerate(line):
            rows.append(
                {
                    "practice_code": f"{chr(65 + r)}{c + 1}",
                    "practice_name": f"Grid practice {chr(65 + r)}{c + 1}",
                    "list_size": size,
                    "ccg_code": ccg,
                    "easting": X0 + dx + (c + 0.5) * KM,
                    "northing": Y0 + (len(sizes) - r - 0.5) * KM,
                }
            )
    return rows


@pytest.fixture
def grid3(tmp_path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A 3 x 3 grid of practices in one square CCG ``GRD``, 3 km a side.

    ::

        A1 -- A2 -- A3        10k  10k  10k
        |     |     |
        B1 -- B2 -- B3        10k  20k  10k
        |     |     |
        C1 -- C2 -- C3        10k  10k  10k

    Each cell is a 1 km square, so rook neighbours are the drawn edges (12 of them).
    """
    sizes = [[10_000, 10_000, 10_000], [10_000, 20_000, 10_000], [10_000, 10_000, 10_000]]
    practices = read_practices(write_practices(tmp_path / "grid.csv", grid_rows(sizes)))
    boundaries = read_boundaries(write_boxes(tmp_path / "grid.gpkg", {"GRD": (0, 0, 3, 3)}))
    return practices, boundaries


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., nx.Graph]:
    """Build a graph without touching the user's cache."""

    def _build(practices: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame | None = None) -> nx.Graph:
        return graph_from_practices(practices, boundaries, cache_dir=tmp_path / "cache")

    return _build


@pytest.fixture(scope="session")
def slice_practices() -> gpd.GeoDataFrame:
    """The real practices of Halton (01F), Castle Point and Rochford (99F) and Southend (99G)."""
    return read_practices(DATA / "practices_slice.csv", impute="postcode")


@pytest.fixture(scope="session")
def slice_boundaries() -> gpd.GeoDataFrame:
    """The real CCG polygons of the slice."""
    return read_boundaries(DATA / "ccg_slice.geojson")


@pytest.fixture(scope="session")
def slice_graph(
    slice_practices: gpd.GeoDataFrame,
    slice_boundaries: gpd.GeoDataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> nx.Graph:
    """The adjacency graph of the slice."""
    return graph_from_practices(slice_practices, slice_boundaries, cache_dir=tmp_path_factory.mktemp("cache"))


def assert_graph_invariants(graph: nx.Graph, practices: pd.DataFrame) -> None:
    """Check what every adjacency graph guarantees."""
    assert sorted(graph.nodes) == sorted(practices.index)
    assert practices.index.is_unique
    for a, b, kind in graph.edges(data="type"):
        same = graph.nodes[a]["ccg_code"] == graph.nodes[b]["ccg_code"]
        assert (kind in WITHIN_CCG) == same, (a, b, kind)
    for ccg in practices["ccg_code"].unique():
        assert nx.is_connected(ccg_subgraph(graph, ccg)), ccg


def chromium_options(user_data_dir: Path, *, window: str):
    """Return options for Debian's Chromium headless, its network closed but for loopback.

    Shared with ``docs/make_screenshot.py``, which opens a map as the browser tests do.
    """
    from selenium import webdriver

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
        "--proxy-server=http://127.0.0.1:9",  # nothing listens there: only loopback (never proxied) answers
        f"--user-data-dir={user_data_dir}",
        f"--window-size={window}",
    ):
        options.add_argument(flag)
    return options


def headless_chromium(user_data_dir: Path, *, window: str, wait_s: float = WAIT_S):
    """Start Debian's Chromium headless for a test (:func:`chromium_options`).

    Skips the test when Chromium or its driver is missing. The caller quits the driver.
    """
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = chromium_options(user_data_dir, window=window)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))  # a path given: Selenium Manager is skipped
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(wait_s)
    return driver


def wait_for(driver, script: str, *args: object, wait_s: float = WAIT_S) -> object:
    """Return the first truthy result of ``script`` within ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        result = driver.execute_script(script, *args)
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for: {script}")
