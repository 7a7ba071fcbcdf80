"""Neighbours by shared patients: the rule on hand-drawn rows of LSOAs and on the real slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footprint.areas import read_lsoas, read_registrations
from footprint.errors import DataError
from footprint.neighbours import CORE_SHARE, MIN_SHARED, PatientRule, patient_edges
from tests.conftest import DATA

#: Five LSOAs in a row, ``L0 | L1 | L2 | L3 | L4``, each touching the next.
ROW = [f"L{i}" for i in range(5)]
ROW_ADJACENCY = np.array([[i, i + 1] for i in range(4)])


def _registrations(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["practice_code", "lsoa_code", "patients"])


def _pairs(edges: pd.DataFrame) -> set[frozenset[str]]:
    return {frozenset(p) for p in edges[["a", "b"]].itertuples(index=False)}


def test_same_and_touching_lsoas_join_but_two_apart_do_not():
    reg = _registrations([("A", "L0", 1_000), ("B", "L1", 1_000), ("C", "L1", 1_000), ("D", "L3", 1_000)])
    edges = patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "B", "C", "D"])
    # A-B touch, B-C share L1, A-C touch; D in L3 is two LSOAs from L1.
    assert _pairs(edges) == {frozenset("AB"), frozenset("AC"), frozenset("BC")}
    assert edges.set_index(["a", "b"]).loc[("B", "C"), "patients"] == 2_000
    assert list(edges.attrs["core"]) == [1, 1, 1, 1]


def test_core_share_leaves_a_practices_scattered_tail_out():
    # A's 90 patients in L2 are 9 % of L2's residents: below the 10 % core, so A and C are apart.
    reg = _registrations([("A", "L0", 1_000), ("A", "L2", 90), ("C", "L2", 910)])
    assert patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "C"]).empty
    # At 100 of 1,000 residents (10 %) L2 is one of A's core LSOAs.
    reg = _registrations([("A", "L0", 1_000), ("A", "L2", 100), ("C", "L2", 900)])
    edges = patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "C"])
    assert edges[["a", "b", "patients"]].to_numpy().tolist() == [["A", "C", 1_000]]
    # Patients of practices not joined still count among an LSOA's residents.
    reg = _registrations([("A", "L0", 1_000), ("A", "L2", 100), ("C", "L2", 900), ("X", "L2", 100)])
    assert patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "C"]).empty


def test_min_shared_is_a_share_of_the_smaller_practice():
    # A (2,000) has 400 core patients in L1, beside B's 1,000 in L2; the rest far off in L4.
    reg = _registrations([("A", "L1", 400), ("A", "L4", 1_600), ("B", "L2", 1_000)])
    edges = patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "B"])
    # Shared: A's 400 near B and B's 1,000 near A = 1,400, 1.4 of B's (the smaller) 1,000.
    assert edges[["patients", "share"]].to_numpy().tolist() == [[1_400, 1.4]]
    assert _pairs(patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "B"], rule=PatientRule(min_shared=1.4)))
    assert patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "B"], rule=PatientRule(min_shared=1.41)).empty


def test_unknown_lsoas_and_practices_are_left_out():
    reg = _registrations([("A", "L0", 500), ("B", "W01000001", 500), ("Z", "L0", 500), ("B", "L1", 500)])
    edges = patient_edges(reg, ROW, ROW_ADJACENCY, ["A", "B"])
    assert _pairs(edges) == {frozenset("AB")}
    assert edges["patients"].tolist() == [1_000]


def test_rule_and_inputs_are_checked():
    with pytest.raises(ValueError, match="core_share 0 is not a share above 0 and at most 1"):
        PatientRule(core_share=0)
    with pytest.raises(ValueError, match="min_shared -1 is not a share above 0"):
        PatientRule(min_shared=-1)
    assert PatientRule() == PatientRule(core_share=CORE_SHARE, min_shared=MIN_SHARED)
    with pytest.raises(DataError, match="registrations lack column"):
        patient_edges(pd.DataFrame({"practice_code": ["A"]}), ROW, ROW_ADJACENCY, ["A"])
    with pytest.raises(DataError, match="adjacency names positions past the 5 LSOAs"):
        patient_edges(_registrations([("A", "L0", 1)]), ROW, np.array([[0, 9]]), ["A"])


def test_real_slice_edges_are_symmetric_and_weighted(slice_practices):
    lsoas = read_lsoas(DATA / "lsoa_slice.npz")
    registrations = read_registrations(DATA / "lsoa_registrations_slice.csv.gz")
    edges = patient_edges(registrations, lsoas.index, lsoas.attrs["adjacency"], slice_practices.index)
    assert len(edges) > 0
    assert (edges["a"] < edges["b"]).all() and not edges.duplicated(["a", "b"]).any()
    assert (edges["share"] >= MIN_SHARED).all() and (edges["patients"] > 0).all()
    # Looser thresholds keep every pair the default keeps.
    looser = patient_edges(
        registrations,
        lsoas.index,
        lsoas.attrs["adjacency"],
        slice_practices.index,
        rule=PatientRule(min_shared=0.25),
    )
    assert _pairs(edges) <= _pairs(looser) and len(looser) > len(edges)
