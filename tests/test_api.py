"""The notebook API: what ``import footprint`` offers, and the README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import footprint
from footprint.cli import cli_words
from footprint.errors import PlanError
from footprint.graph import graph_to_gdfs
from footprint.plan import Plan

README = Path(__file__).parent.parent / "README.md"


def test_import_footprint_loads_neither_folium_nor_ortools():
    code = "import sys, footprint; print('folium' in sys.modules, 'ortools' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_lazy_names_resolve_and_unknown_names_fail():
    assert all(callable(getattr(footprint, name)) for name in footprint._LAZY)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = footprint.nope
    assert set(footprint.__all__) <= set(dir(footprint)) | set(footprint._LAZY)


def test_plan_series_round_trip():
    plan = Plan({"A1": "p1", "A2": None, "A3": "p1"})
    series = plan.to_series()
    assert series.name == "pcn_id" and series.index.name == "practice_code"
    assert Plan.from_series(series) == plan
    assert Plan.from_series(pd.Series({"A1": " ", "A2": "x"})).assignment == {"A1": None, "A2": "x"}
    with pytest.raises(PlanError, match="A1 appear more than once"):
        Plan.from_series(pd.Series(["p", "q"], index=["A1", "A1"]))


def test_graph_to_gdfs(slice_graph):
    cells, edges = graph_to_gdfs(slice_graph)
    assert cells.crs == edges.crs == "EPSG:27700"
    assert set(cells.index) == set(slice_graph.nodes) and cells.index.name == "practice_code"
    assert len(edges) == slice_graph.number_of_edges()
    assert set(edges["type"]) == {"rook", "site", "bridge", "cross_ccg"}
    bridge = edges[edges["type"] == "bridge"].iloc[0]
    assert bridge.geometry.length / 1000 == pytest.approx(bridge["length_km"], abs=0.05)
    assert (cells.geometry.area > 0).all()


def test_cli_spells_library_options_as_flags():
    assert cli_words("or pass impute='postcode' to place them") == "or pass --impute-missing to place them"


def test_readme_python_example_runs():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has a Python API example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    plan, cornwall = namespace["plan"], namespace["cornwall"]
    assert plan.info["ccgs"]["11N"].stages[0].proven
    assert sorted(plan.assignment) == sorted(cornwall.index)  # every practice once
