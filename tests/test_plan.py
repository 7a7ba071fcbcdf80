from __future__ import annotations

import pandas as pd
import pytest

from footprint.errors import DataError, PlanError
from footprint.places import display_name
from footprint.plan import (
    NAME_COLUMNS,
    PLAN_COLUMNS,
    Plan,
    keep_ids,
    plan_from_practices,
    read_plan,
    transfer_distance,
    write_plan,
)


def test_groups_and_partition():
    plan = Plan({"A": "p1", "B": "p1", "C": "p2", "D": None})
    assert plan.groups == {"p1": frozenset({"A", "B"}), "p2": frozenset({"C"})}
    assert plan.partition == {frozenset({"A", "B"}), frozenset({"C"})}
    assert plan.open_practices == ["D"]


def test_csv_round_trip(tmp_path, slice_practices):
    plan = plan_from_practices(slice_practices)
    path = write_plan(plan, tmp_path / "plan.csv", slice_practices)
    frame = pd.read_csv(path, dtype=str)
    assert list(frame.columns) == PLAN_COLUMNS
    assert len(frame) == len(slice_practices)
    again = read_plan(path, slice_practices)
    assert again.partition == plan.partition
    assert again.open_practices == plan.open_practices


def test_plan_csv_names_each_network_and_marks_new_names(tmp_path, slice_practices):
    from footprint.places import group_names

    current = plan_from_practices(slice_practices)
    plan = Plan({**current.assignment, "F81032": "99F-01"})  # a new network of one practice
    names = group_names(plan, slice_practices)
    path = write_plan(plan, tmp_path / "plan.csv", slice_practices, names=names, new=names.new)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("practice_code")
    assert list(frame.columns) == [*PLAN_COLUMNS[1:], *NAME_COLUMNS]
    assert frame.loc["F81001", ["pcn_name", "pcn_name_new"]].tolist() == ["Benfleet PCN", "false"]
    assert frame.loc["F81032", "pcn_name_new"] == "true" and frame.loc["F81032", "pcn_name"].endswith(" PCN")
    assert frame.loc["F81700", ["pcn_id", "pcn_name", "pcn_name_new"]].tolist() == ["", "", ""]  # open
    assert read_plan(path, slice_practices).partition == plan.partition  # the names are not read back


def test_unallocated_pseudo_pcn_is_open():
    frame = pd.DataFrame({"pcn_code": ["U12345", "U", ""]}, index=["A", "B", "C"])
    assert plan_from_practices(frame).assignment == {"A": "U12345", "B": None, "C": None}


def test_read_plan_errors(tmp_path, slice_practices):
    path = tmp_path / "p.csv"
    path.write_text("practice_code,group\nA,1\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) pcn_id \(found: practice_code, group\)"):
        read_plan(path)
    path.write_text("practice_code,pcn_id\nF81051,1\nF81051,2\n")
    with pytest.raises(DataError, match=r"more than once: F81051 \(line 2\), F81051 \(line 3\)"):
        read_plan(path)
    path.write_text("practice_code,pcn_id\nZZZ999,1\n")
    with pytest.raises(PlanError, match="not in the practices file: ZZZ999"):
        read_plan(path, slice_practices)
    with pytest.raises(DataError, match="does not exist"):
        read_plan(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("a", "b", "moves"),
    [
        ({"A": 1, "B": 1, "C": 2}, {"A": "x", "B": "x", "C": "y"}, 0),
        ({"A": 1, "B": 1, "C": 2}, {"A": "x", "B": "y", "C": "y"}, 1),
        ({"A": 1, "B": 1, "C": 1, "D": 1}, {"A": "x", "B": "x", "C": "y", "D": "z"}, 2),
        ({"A": 1, "B": 2, "C": 3}, {"A": "x", "B": "x", "C": "x"}, 2),
    ],
)
def test_transfer_distance(a, b, moves):
    to_str = lambda d: Plan({k: str(v) for k, v in d.items()})  # noqa: E731
    assert transfer_distance(to_str(a), to_str(b)) == moves
    assert transfer_distance(to_str(b), to_str(a)) == moves


def test_match_and_moved_practices():
    from footprint.plan import match_groups, moved_practices

    a = Plan({"A": "1", "B": "1", "C": "2", "D": "2", "E": None})
    b = Plan({"A": "x", "B": "y", "C": "y", "D": "y", "E": "y"})
    assert match_groups(a, b) == {"y": "2", "x": "1"}
    assert moved_practices(a, b) == {"B": ("1", "y")}  # E was open: placed, not moved
    assert transfer_distance(a, b) == 1


def test_keep_ids_for_groups_that_continue_a_previous_group():
    from footprint.plan import keep_ids, rename_ids_in

    current = Plan({"A": "U1", "B": "U1", "C": "U1", "D": "U2", "E": "U2", "F": None})
    new = Plan({"A": "X-01", "B": "X-01", "C": "X-02", "D": "X-02", "E": "X-02", "F": "U1"})
    kept = keep_ids(new, current)
    # X-01 is all U1's; X-02 is mostly U2's; F was open, and its group's id clashes with a kept one.
    assert kept.assignment == {"A": "U1", "B": "U1", "C": "U2", "D": "U2", "E": "U2", "F": "U1-new"}
    assert kept.partition == new.partition
    assert kept.info["renamed"] == {"X-01": "U1", "X-02": "U2", "U1": "U1-new"}
    minority = keep_ids(Plan({"A": "X-01", "D": "X-01", "F": "X-01"}), current)
    assert set(minority.assignment.values()) == {"X-01"}  # 1 of 3 from any one PCN: no majority
    assert rename_ids_in("X-02 borders X-01", kept.info["renamed"]) == "U2 borders U1"


def test_keep_ids_never_renames_an_agreed_group():
    # A lock whose ids a current-PCN pass would reshuffle: X-19 holds U1's practices A, B, and the
    # agreed "U1" holds U2's D, E. Agreed ids are final: neither comes back renamed or suffixed.
    current = Plan({"A": "U1", "B": "U1", "C": "U1", "D": "U2", "E": "U2"})
    lock = Plan({"A": "X-19", "B": "X-19", "C": "U1", "D": "U1", "E": "U1"})
    solved = Plan({"A": "X-01", "B": "X-01", "C": "X-02", "D": "X-02", "E": "X-02", "F": "X-19"})
    named = keep_ids(solved, lock)
    named = keep_ids(named, current, fixed=set(lock.groups))
    assert named.assignment == {"A": "X-19", "B": "X-19", "C": "U1", "D": "U1", "E": "U1", "F": "X-20"}
    assert named.info["renamed"] == {"X-01": "X-19", "X-02": "U1", "X-19": "X-20"}


def test_plan_command_writes_each_networks_name_in_plan_csv_and_pcns_geojson(tmp_path, monkeypatch, capsys):
    """A group that keeps a current PCN's code keeps its published name; a new one is named and marked new."""
    import json

    from footprint.cli import main
    from tests.conftest import DATA

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = ["plan", "--practices", DATA / "practices_slice.csv", "--boundaries", DATA / "ccg_slice.geojson"]
    args += ["--impute-missing", "--ccg", "99F", "01F", "--out", out, "--no-maps", "--processes", "1"]
    assert main([str(a) for a in args]) == 0
    capsys.readouterr()
    plan = pd.read_csv(out / "plan.csv", dtype=str, keep_default_na=False)
    assert list(plan.columns) == [*PLAN_COLUMNS, *NAME_COLUMNS]
    named = plan[plan["pcn_id"] != ""]
    assert (named["pcn_name"] != "").all() and set(named["pcn_name_new"]) <= {"true", "false"}
    published = pd.read_csv(DATA / "practices_slice.csv", dtype=str).groupby("pcn_code")["pcn_name"].first()
    for pcn, rows in named.groupby("pcn_id"):
        name, new = rows["pcn_name"].iloc[0], rows["pcn_name_new"].iloc[0]
        assert rows["pcn_name"].nunique() == 1
        if pcn in published.index:  # a current PCN's code: its published name, shown as footprint shows names
            assert (name, new) == (display_name(published[pcn]), "false")
        else:
            assert new == "true" and name.endswith(" PCN")
    names = named.groupby("ccg_code")["pcn_name"].apply(lambda s: s.drop_duplicates().str.casefold())
    assert names.groupby(level=0).apply(lambda s: s.is_unique).all()  # unique in each CCG, whatever the case
    areas = json.loads((out / "pcns.geojson").read_text())["features"]
    by_id = named.drop_duplicates("pcn_id").set_index("pcn_id")
    for feature in areas:
        props = feature["properties"]
        assert props["pcn_name"] == by_id.at[props["pcn_id"], "pcn_name"]
        assert props["pcn_name_new"] == (by_id.at[props["pcn_id"], "pcn_name_new"] == "true")
