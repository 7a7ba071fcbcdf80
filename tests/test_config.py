from __future__ import annotations

import pytest

from footprint.config import DEFAULT_STAGES, Rules, SizeBand, SolveOptions


@pytest.mark.parametrize(
    ("total", "practices", "rural", "approved", "status"),
    [
        (30_000, 3, False, False, "in_band"),
        (50_000, 3, False, False, "in_band"),
        (29_999, 3, False, False, "below"),
        (50_001, 3, False, False, "above"),
        (64_000, 1, False, False, "exempt_large"),
        (64_000, 2, False, False, "above"),  # a big practice with a neighbour is not standing alone
        (24_000, 3, True, False, "exempt_rural"),
        (20_000, 3, True, False, "exempt_rural"),
        (19_999, 3, True, False, "below"),  # below the rural floor
        (55_000, 3, True, False, "above"),  # the rural waiver never covers a group over the ceiling
        (12_000, 2, False, True, "exempt_approved"),
        (40_000, 2, False, True, "in_band"),
    ],
)
def test_group_status_is_the_one_band_rule(total, practices, rural, approved, status):
    rules = Rules()
    assert rules.group_status(total, practices=practices, rural=rural, approved=approved) == status
    exempt = rules.exemption(total, practices=practices, rural=rural, approved=approved)
    assert (exempt is not None) == status.startswith("exempt_")


def test_big_may_merge_removes_the_large_exemption():
    assert Rules(big_may_merge=True).group_status(64_000, practices=1, rural=False) == "above"


def test_deviation_is_measured_from_the_band_even_when_exempt():
    rules = Rules(rural_floor=20_000)
    assert rules.deviation(24_000) == 6_000
    assert rules.deviation(64_000) == 14_000
    assert rules.deviation(40_000) == 0


def test_rural_by_flag_or_ccg():
    rules = Rules(rural_ccgs=frozenset({" 11j "}))
    assert rules.is_rural("11J") and rules.is_rural("00T", flagged=True) and not rules.is_rural("00T")


def test_describe_names_side_and_exemption():
    rules = Rules()
    assert rules.describe(55_000, "above") == "out of band: 5,000 above 30,000-50,000"
    assert "rural floor of 20,000" in rules.describe(25_000, "exempt_rural")


def test_default_stages_split_not_exempt_from_all_out_of_band():
    assert DEFAULT_STAGES[:2] == ("out_of_band", "out_of_band_all")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SizeBand(50_000, 30_000), "not a range"),
        (lambda: SizeBand.from_string("abc"), "not two numbers"),
        (lambda: Rules(rural_floor=40_000), "rural_floor 40,000 must lie between"),
        (lambda: Rules(stages=("deviation",)), "starting with out_of_band"),
        (lambda: SolveOptions(workers=0), "must be at least 1"),
        (lambda: SolveOptions(time_limit_s=0), "must be positive"),
    ],
)
def test_bad_options_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
