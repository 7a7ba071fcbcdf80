from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footprint.load import select_ccgs
from footprint.places import (
    PLACE_COLUMNS,
    TOWN_POPULATION,
    group_names,
    nearest_place,
    nearest_places,
    read_places,
)
from footprint.plan import Plan, plan_from_practices


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> pd.DataFrame:
    return read_places(cache_dir=tmp_path_factory.mktemp("places"))


def test_places_are_british_in_the_national_grid(places, tmp_path_factory):
    assert tuple(places.columns) == PLACE_COLUMNS and places.index.is_unique
    assert 5_000 < len(places) < 7_000
    # England, Wales and Scotland only: inside the national grid's extent
    assert places["x"].between(0, 700_000).all() and places["y"].between(0, 1_300_000).all()
    assert {"Yeovil", "Cardiff", "Glasgow", "Runcorn", "Yetminster"} <= set(places["name"])
    assert "Belfast" not in set(places["name"]) and "Akrotiri" not in set(places["name"])
    assert (places["kind"] == np.where(places["population"] >= TOWN_POPULATION, "town", "village")).all()
    assert places["population"].is_monotonic_decreasing  # largest first
    # the cache is read back the same
    again = read_places(cache_dir=tmp_path_factory.getbasetemp() / "places0")
    pd.testing.assert_frame_equal(places, again)
    assert set(read_places(min_population=100_000)["kind"]) == {"town"}


def test_nearest_place(places):
    assert nearest_place((359_480, 110_657), places) == "Yetminster"
    towns = places[places["kind"] == "town"]
    assert nearest_place((359_480, 110_657), towns) == "Yeovil"
    assert nearest_places(np.empty((0, 2)), places) == []
    with pytest.raises(ValueError, match="no places to choose from"):
        nearest_places(np.array([[0.0, 0.0]]), places.iloc[:0])


def test_group_names_keep_current_names_and_name_new_groups_uniquely(slice_practices, places):
    current = plan_from_practices(slice_practices)
    names = group_names(current, slice_practices, places=places)
    assert names["U27924"] == "BENFLEET PCN" and names["U79408"] == "WIDNES PCN"
    halton = select_ccgs(slice_practices, ["01F"])
    # two new groups of Widnes practices: each named after its biggest member's place, apart
    widnes = sorted(halton.index[halton["pcn_code"] == "U79408"])
    plan = Plan({c: ("a" if i % 2 else "b") for i, c in enumerate(widnes)})
    new = group_names(plan, halton, places=places, keep={})
    assert new == {"a": "Widnes PCN", "b": "Widnes PCN 2"}  # every member's place is Widnes


def test_group_names_number_clashes():
    practices = pd.DataFrame(
        {"list_size": [9_000, 8_000, 7_000], "ccg_code": "X", "x": 355_700.0, "y": 116_000.0},
        index=["A", "B", "C"],
    )
    names = group_names(Plan({"A": "p", "B": "q", "C": "r"}), practices, keep={})
    assert names == {"p": "Yeovil PCN", "q": "Yeovil PCN 2", "r": "Yeovil PCN 3"}
