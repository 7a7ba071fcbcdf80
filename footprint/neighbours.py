"""Neighbours by shared patients: practices whose patients live in the same or touching LSOAs.

The graph of neighbouring practices (:mod:`footprint.graph`) joins practices whose Voronoi
cells share a border. This module gives the other rule, from where the practices' registered
patients live (patients by LSOA, as :func:`footprint.areas.read_registrations` reads them, and
the LSOAs' shared borders, as :func:`footprint.areas.read_lsoas` keeps them):

1. A practice's *core* is the LSOAs where it has at least :data:`CORE_SHARE` (10 %) of the
   registered residents: the same threshold as the issue's overlapping areas, "LSOAs where a
   network has at least 10 % of the patients". Its scattered tail (movers, students, a few
   patients across a city) is left out.
2. Two practices *share* the patients of each living in its core LSOAs that are one of, or
   touch one of, the other's core LSOAs.
3. They are neighbours when they share at least :data:`MIN_SHARED` (half) of the smaller
   practice's registered patients. At half, England's patients graph has about as many edges
   within CCGs as the cells graph (19,018 against 18,495 rook and site edges, July 2022), so a
   comparison of the two measures which practices are joined, not how many.

It needs only tables, and sits below :mod:`footprint.graph` (it imports no stage).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from footprint.errors import DataError

__all__ = ["CORE_SHARE", "MIN_SHARED", "NEIGHBOURS", "PatientRule", "patient_edges"]

logger = logging.getLogger(__name__)

#: The rules a graph's neighbours can follow: cells sharing a border, or shared patients.
NEIGHBOURS = ("cells", "patients")
#: A practice's core LSOAs: where it has at least this share of the registered residents.
CORE_SHARE = 0.10
#: Neighbours share at least this share of the smaller practice's registered patients.
MIN_SHARED = 0.5


@dataclass(frozen=True)
class PatientRule:
    """The thresholds of neighbours by shared patients.

    Attributes
    ----------
    core_share
        A practice's core LSOAs are those where it has at least this share of the registered
        residents, above 0 and at most 1 (default :data:`CORE_SHARE`).
    min_shared
        Two practices are neighbours when they share at least this share of the smaller
        one's registered patients, above 0 (default :data:`MIN_SHARED`; it may exceed 1, as
        the patients of both practices count).
    """

    core_share: float = CORE_SHARE
    min_shared: float = MIN_SHARED

    def __post_init__(self) -> None:
        if not 0 < self.core_share <= 1:
            msg = f"core_share {self.core_share!r} is not a share above 0 and at most 1: give e.g. 0.1"
            raise ValueError(msg)
        if not (math.isfinite(self.min_shared) and self.min_shared > 0):
            msg = f"min_shared {self.min_shared!r} is not a share above 0: give e.g. 0.5"
            raise ValueError(msg)


def patient_edges(
    registrations: pd.DataFrame,
    lsoa_codes: Sequence[str] | pd.Index,
    adjacency: np.ndarray,
    practice_codes: Sequence[str] | pd.Index,
    *,
    rule: PatientRule | None = None,
) -> pd.DataFrame:
    """Return the pairs of practices that are neighbours by shared patients, with their weights.

    Parameters
    ----------
    registrations
        Patients by practice and LSOA (``practice_code``, ``lsoa_code``, ``patients``), every
        practice's: all of an LSOA's registered residents count in the core share, also those
        of practices not in ``practice_codes``. Rows of LSOAs not in ``lsoa_codes`` (Welsh,
        unknown) are left out.
    lsoa_codes
        The LSOAs, in the order ``adjacency`` numbers them.
    adjacency
        Pairs ``(i, j)`` of LSOA positions sharing a border (:func:`footprint.areas.lsoa_adjacency`).
    practice_codes
        The practices to join.
    rule
        The thresholds (default :class:`PatientRule`).

    Returns
    -------
    pandas.DataFrame
        One row per pair, ``a < b``: ``a``, ``b``, ``patients`` (the patients they share, see
        the module's rule) and ``share`` (that over the smaller practice's registered patients),
        sorted by ``a``, ``b``. ``attrs["core"]`` holds, per practice code, its number of core LSOAs
        (0: the registrations give it none).

    Raises
    ------
    DataError
        If ``registrations`` lacks a column or ``adjacency`` names positions past ``lsoa_codes``.

    Examples
    --------
    Three LSOAs in a row, ``L0 | L1 | L2``; A lives in L0, B in L1, C in L2 (and a few of
    A's patients in L2, below the core share):

    >>> reg = pd.DataFrame({"practice_code": ["A", "B", "C", "A"], "lsoa_code": ["L0", "L1", "L2", "L2"],
    ...                     "patients": [900, 800, 700, 20]})
    >>> edges = patient_edges(reg, ["L0", "L1", "L2"], np.array([[0, 1], [1, 2]]), ["A", "B", "C"])
    >>> edges[["a", "b", "patients"]].to_numpy().tolist()
    [['A', 'B', 1700], ['B', 'C', 1500]]
    """
    rule = rule or PatientRule()
    missing = [c for c in ("practice_code", "lsoa_code", "patients") if c not in registrations]
    if missing:
        msg = f"registrations lack column(s) {', '.join(missing)}: read them with read_registrations"
        raise DataError(msg)
    lsoas = pd.Index(np.asarray(lsoa_codes, dtype=str))
    practices = pd.Index(np.asarray(practice_codes, dtype=str))
    n_lsoas, n_practices = len(lsoas), len(practices)
    adjacency = np.asarray(adjacency, dtype=np.int64).reshape(-1, 2)
    if len(adjacency) and (adjacency.min() < 0 or adjacency.max() >= n_lsoas):
        msg = f"the LSOA adjacency names positions past the {n_lsoas:,} LSOAs: read the LSOAs with read_lsoas"
        raise DataError(msg)
    place = lsoas.get_indexer(registrations["lsoa_code"].astype(str))
    member = practices.get_indexer(registrations["practice_code"].astype(str))
    count = registrations["patients"].to_numpy(dtype=np.float64)
    known = place >= 0
    residents = np.bincount(place[known], weights=count[known], minlength=n_lsoas)
    mine = known & (member >= 0)
    patients = sp.csr_matrix((count[mine], (member[mine], place[mine])), shape=(n_practices, n_lsoas))
    patients.sum_duplicates()
    registered = np.asarray(patients.sum(axis=1)).ravel()

    # Rule: a practice's core LSOAs hold at least core_share of their registered residents.
    rows = np.repeat(np.arange(n_practices), np.diff(patients.indptr))
    in_core = patients.data >= rule.core_share * residents[patients.indices]
    core = sp.csr_matrix(
        (np.ones(int(in_core.sum())), (rows[in_core], patients.indices[in_core])), shape=patients.shape
    )
    core_patients = sp.csr_matrix(
        (patients.data[in_core], (rows[in_core], patients.indices[in_core])), shape=patients.shape
    )

    # Rule: "near" a practice are its core LSOAs and those touching one (rook: a shared border).
    touch = sp.csr_matrix(
        (np.ones(len(adjacency)), (adjacency[:, 0], adjacency[:, 1])), shape=(n_lsoas, n_lsoas)
    )
    touch = touch + touch.T + sp.identity(n_lsoas, format="csr")
    near = (core @ touch).tocsr()
    near.data[:] = 1.0

    # Rule: a and b share a's core patients near b's core and b's near a's; enough makes neighbours.
    one_way = (core_patients @ near.T).tocsr()
    both = (one_way + one_way.T).tocoo()
    upper = both.row < both.col
    a, b, shared = both.row[upper], both.col[upper], np.rint(both.data[upper])
    smaller = np.minimum(registered[a], registered[b])
    keep = (smaller > 0) & (shared >= rule.min_shared * smaller)
    edges = pd.DataFrame(
        {
            "a": practices[a[keep]],
            "b": practices[b[keep]],
            "patients": shared[keep].astype(np.int64),
            "share": np.round(shared[keep] / smaller[keep], 3),
        }
    )
    # Codes in lexical order within each pair, as the rest of footprint writes edges.
    swap = edges["a"] > edges["b"]
    edges.loc[swap, ["a", "b"]] = edges.loc[swap, ["b", "a"]].to_numpy()
    edges = edges.sort_values(["a", "b"], ignore_index=True)
    edges.attrs["core"] = pd.Series(np.asarray(core.sum(axis=1)).ravel().astype(np.int64), index=practices)
    logger.info(
        "patient neighbours: %d pairs of %d practices (%d with no core LSOA)",
        len(edges),
        n_practices,
        int((edges.attrs["core"] == 0).sum()),
    )
    return edges
