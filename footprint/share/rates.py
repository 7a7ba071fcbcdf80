"""CD payment rates by financial year: the shipped table and the rate of one year.

:func:`read_rates` reads a rates file (by default ``footprint/data/cd_rates.csv``, shipped as
package data) into :class:`CdRate` rows; :func:`rate_for_year` picks one year's rate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from footprint._io import read_text_csv
from footprint.errors import DataError

__all__ = ["RATES_FILE", "CdRate", "rate_for_year", "read_rates"]

#: The shipped table of CD payment rates by financial year (sources and uncertain values marked).
RATES_FILE = "data/cd_rates.csv"


@dataclass(frozen=True)
class CdRate:
    """The CD payment of one financial year.

    ``gbp_per_patient`` is ``None`` in years where the CD payment was merged into core PCN
    funding (``merged_into_core``); then only funded WTE is reported.
    """

    year: str
    gbp_per_patient: float | None
    merged_into_core: bool
    uncertain: bool
    period: str = ""
    source: str = ""
    note: str = ""

    def gbp(self, patients: float) -> float | None:
        """Return the pounds a year for ``patients``, or ``None`` when the payment is merged."""
        return None if self.gbp_per_patient is None else round(patients * self.gbp_per_patient, 2)

    def describe(self) -> str:
        """Return the rate in words, with its caveats."""
        if self.merged_into_core:
            return f"{self.year}: CD payment merged into core PCN funding; funded time reported as WTE only"
        flag = " (uncertain)" if self.uncertain else ""
        return f"{self.year}: £{self.gbp_per_patient:.4f} per registered patient{flag}, {self.period}"


def _flag(value: str) -> bool:
    return value.strip().lower() in {"true", "yes", "1", "y"}


def read_rates(path: str | os.PathLike[str] | None = None) -> dict[str, CdRate]:
    """Read a CD payment rates file (default: the shipped ``footprint/data/cd_rates.csv``).

    Parameters
    ----------
    path
        A CSV with columns ``year`` (``YYYY/YY``) and ``gbp_per_patient`` (blank when the
        payment was merged into core funding), and optionally ``merged_into_core`` and
        ``uncertain`` (true/false), ``period``, ``source`` and ``note``.

    Returns
    -------
    dict
        Year to :class:`CdRate`.

    Raises
    ------
    DataError
        If the file is missing, lacks ``year`` or ``gbp_per_patient``, or holds a rate that
        is not a non-negative number.

    Examples
    --------
    >>> read_rates()["2020/21"].gbp_per_patient
    0.722
    """
    if path is None:
        with resources.as_file(resources.files("footprint").joinpath(RATES_FILE)) as shipped:
            return read_rates(shipped)
    frame = read_text_csv(path, what="rates file", expect="a CSV with columns year,gbp_per_patient")
    missing = [c for c in ("year", "gbp_per_patient") if c not in frame.columns]
    if missing:
        msg = f"rates file {path} lacks column(s) {', '.join(missing)}; it needs year and gbp_per_patient"
        raise DataError(msg)
    frame = frame.reindex(
        columns=["year", "gbp_per_patient", "merged_into_core", "uncertain", "period", "source", "note"],
        fill_value="",
    )
    rates = {}
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        text = row.gbp_per_patient
        try:
            value = float(text) if text else None
        except ValueError:
            value = -1.0
        if value is not None and not value >= 0:
            msg = f"rates file {path} line {line}: gbp_per_patient {text!r} is not a non-negative number"
            raise DataError(msg)
        rates[row.year] = CdRate(
            year=row.year,
            gbp_per_patient=value,
            merged_into_core=_flag(row.merged_into_core) or value is None,
            uncertain=_flag(row.uncertain),
            period=row.period,
            source=row.source,
            note=row.note,
        )
    return rates


def rate_for_year(year: str, rates: Mapping[str, CdRate] | None = None) -> CdRate:
    """Return the CD payment rate of ``year`` from ``rates`` (default: the shipped file).

    Raises
    ------
    DataError
        If ``year`` is not in ``rates``; the message lists the known years.

    Examples
    --------
    >>> rate_for_year("2024/25").merged_into_core
    True
    >>> rate_for_year("2031/32")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    footprint.errors.DataError: no CD payment rate for year 2031/32: known years are 2019/20, ...
    """
    rates = read_rates() if rates is None else rates
    if year not in rates:
        msg = (
            f"no CD payment rate for year {year}: known years are {', '.join(sorted(rates))}; "
            f"give one of them, or a rates file with a row for {year}"
        )
        raise DataError(msg)
    return rates[year]
