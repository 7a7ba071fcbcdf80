from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footprint.load import select_ccgs
from footprint.places import (
    PLACE_COLUMNS,
    TOWN_NEAR_M,
    TOWN_POPULATION,
    display_name,
    group_names,
    nearest_place,
    nearest_places,
    practice_places,
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
    assert names["U27924"] == "Benfleet PCN" and names["U79408"] == "Widnes PCN"  # as published, shown
    assert not names.new and names.shown == dict(names)  # every current PCN keeps its name
    halton = select_ccgs(slice_practices, ["01F"])
    # two new groups of Widnes practices: named after Widnes, never like the current "WIDNES PCN"
    widnes = sorted(halton.index[halton["pcn_code"] == "U79408"])
    plan = Plan({c: ("a" if i % 2 else "b") for i, c in enumerate(widnes)})
    new = group_names(plan, halton, places=places, keep={})
    assert all("Widnes" in name for name in new.values()) and len({n.casefold() for n in new.values()}) == 2
    published = {n.casefold().removesuffix(" pcn") for n in halton["pcn_name"].dropna()}
    assert not {n.casefold().removesuffix(" pcn") for n in new.values()} & published
    assert new.new == {"a", "b"} and new.shown["a"] == f"{new['a']} (new)"


def test_group_names_number_only_when_no_place_is_left():
    practices = pd.DataFrame(
        {"list_size": [9_000, 8_000, 7_000], "ccg_code": "X", "x": 355_700.0, "y": 116_000.0},
        index=["A", "B", "C"],
    )
    names = group_names(Plan({"A": "p", "B": "q", "C": "r"}), practices, keep={})
    assert dict(names) == {"p": "Yeovil PCN", "q": "Central Yeovil PCN", "r": "Yeovil PCN 2"}


# --------------------------------------------------------------------------- issue 25


def test_display_name_keeps_st_marys_gp_and_pcn():
    assert display_name("ST MARY'S HEALTH CENTRE") == "St Mary's Health Centre"
    assert display_name("BABYLON GP AT HAND") == "Babylon GP at Hand"
    assert display_name("EAST CORNWALL PCN") == display_name("East Cornwall Pcn") == "East Cornwall PCN"
    assert display_name("ST GEORGE'S MEDICAL CENTRE") == "St George's Medical Centre"
    assert display_name("DR O'BRIEN & PARTNERS") == "Dr O'Brien & Partners"
    assert display_name("STOKE-ON-TRENT NORTH PCN") == "Stoke-on-Trent North PCN"
    assert display_name("SE SHROPSHIRE PCN") == "SE Shropshire PCN"
    assert display_name("MMP CENTRAL AND NORTH PCN") == "MMP Central and North PCN"
    assert display_name("THE 2ND MEDICAL CTR.") == "The 2nd Medical Ctr."
    assert display_name("McKenzie House") == "McKenzie House" and display_name(None) == ""


def test_a_new_network_is_named_after_the_place_of_most_patients(places):
    """Yetminster's practice is the biggest member, but more patients are at Yeovil's two."""
    practices = pd.DataFrame(
        {
            "list_size": [9_000, 5_000, 5_000, 8_826],
            "ccg_code": "X",
            "x": [359_480.0, 355_700.0, 355_750.0, 199_881.0],
            "y": [110_657.0, 116_000.0, 116_050.0, 80_861.0],
        },
        index=["YET", "YEO1", "YEO2", "L82003"],  # L82003: Port Isaac, 8 km from Wadebridge
    )
    names = group_names(Plan({"YET": "p", "YEO1": "p", "YEO2": "p", "L82003": "q"}), practices, places=places)
    assert dict(names) == {"p": "Yeovil PCN", "q": "Port Isaac PCN"}  # no town near Port Isaac: its village
    assert practice_places(practices[["x", "y"]].to_numpy(), places) == [
        "Yetminster",
        "Yeovil",
        "Yeovil",
        "Port Isaac",
    ]
    assert TOWN_NEAR_M == 5_000


def test_a_group_keeping_a_current_code_keeps_its_published_name(slice_practices, places):
    current = plan_from_practices(slice_practices)
    moved = Plan(
        {**current.assignment, "F81032": "U30335"}
    )  # Benfleet's P A Patel joins Rayleigh and District
    names = group_names(moved, slice_practices, places=places)
    assert names["U30335"] == "Rayleigh and District PCN" and names["U27924"] == "Benfleet PCN"
    assert not names.new


def test_a_new_network_is_never_named_like_a_current_one_it_is_not(places):
    """Shropshire: Shrewsbury PCN's practices as a new group are not "Shrewsbury PCN" again, in any case."""
    from footprint.load import read_practices

    shropshire = select_ccgs(read_practices(), ["M2L0M"])
    current = plan_from_practices(shropshire)
    plan = Plan({c: "M2L0M-05" if p == "U60057" else p for c, p in current.assignment.items()})
    names = group_names(plan, shropshire, places=places)
    assert "Shrewsbury" in names["M2L0M-05"] and names["M2L0M-05"].casefold() != "shrewsbury pcn"
    assert names.new == {"M2L0M-05"} and names.shown["M2L0M-05"].endswith(" PCN (new)")
    assert len({n.casefold() for n in names.values()}) == len(names)
