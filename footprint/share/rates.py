"""CD funding by financial year: money per patient and funded time, with the months each covers.

:func:`read_rates` reads a rates file (by default ``footprint/data/cd_rates.csv``, shipped as
package data) into one :class:`CdRate` per year, each made of :class:`RatePart` rows: the
year's CD payment and any temporary uplift, each with the months it covers, its money per
registered patient for those months, the CD time it funds (WTE per 50,000 patients) and its
sources. :func:`rate_for_year` picks one year's rate.

A year's money is the sum of its parts (2019/20's £0.5143 per patient paid for the nine
months from July 2019, not for a year); its funded time is the time of each part weighted by
the months it covers, over the months of the year's CD payment.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from footprint._io import read_text_csv
from footprint.errors import DataError

__all__ = ["PATIENTS_PER_UNIT", "RATES_FILE", "CdRate", "RatePart", "rate_for_year", "read_rates"]

#: The shipped table of CD funding by financial year (sources and uncertain values marked).
RATES_FILE = "data/cd_rates.csv"
#: Funded CD time is stated per this many registered patients (0.25 WTE per 50,000).
PATIENTS_PER_UNIT = 50_000
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_COLUMNS = (
    "year",
    "part",
    "from",
    "to",
    "months",
    "gbp_per_patient",
    "wte_per_50000",
    "merged_into_core",
    "uncertain",
    "source",
    "wte_source",
    "note",
)


@dataclass(frozen=True)
class RatePart:
    """One part of a year's CD funding: the payment, or a temporary uplift, over some months.

    ``gbp_per_patient`` is the money per registered patient for ``months`` months (not a yearly
    rate), ``None`` where there is none; ``wte_per_50000`` the CD time it funds while it runs
    (an uplift's is added to the payment's), ``None`` where none is set.
    """

    part: str
    start: str
    end: str
    months: int
    gbp_per_patient: float | None
    wte_per_50000: float | None
    uncertain: bool = False
    source: str = ""
    wte_source: str = ""
    note: str = ""

    def period(self) -> str:
        """Return the months covered in words, e.g. ``'July 2019 to March 2020 (9 months)'``."""
        start, end = _month_words(self.start), _month_words(self.end)
        span = start if start == end else f"{start} to {end}"
        return f"{span} ({self.months} months)" if self.months != 1 else f"{span} (1 month)"

    def describe(self) -> str:
        """Return the part in words: its money, time and months."""
        money = (
            "no separate payment" if self.gbp_per_patient is None else f"£{self.gbp_per_patient:g} a patient"
        )
        time = "" if self.wte_per_50000 is None else f", {self.wte_per_50000:g} WTE per 50,000 patients"
        flag = " (uncertain)" if self.uncertain else ""
        return f"{self.part}: {money}{time} for {self.period()}{flag}"


@dataclass(frozen=True)
class CdRate:
    """The CD funding of one financial year: its parts, their money and time.

    Attributes
    ----------
    year
        Financial year, ``YYYY/YY``.
    parts
        The year's CD payment first, then any uplift.
    merged_into_core
        The CD payment was merged into core PCN funding: no separate money or time.

    Examples
    --------
    >>> rate = read_rates()["2019/20"]
    >>> rate.months, rate.gbp(50_000), rate.wte(50_000)
    (9, 25715.0, 0.25)
    >>> rate = read_rates()["2020/21"]
    >>> round(rate.gbp_per_patient, 3), rate.wte_per_50000
    (1.264, 0.4375)
    """

    year: str
    parts: tuple[RatePart, ...]
    merged_into_core: bool = False

    @property
    def uncertain(self) -> bool:
        """Whether any part of the year's figures is uncertain."""
        return any(p.uncertain for p in self.parts)

    @property
    def months(self) -> int:
        """Months of the year the CD payment covers (9 in 2019/20: PCNs began on 1 July 2019)."""
        return self.parts[0].months

    @property
    def gbp_per_patient(self) -> float | None:
        """Money per registered patient for the year's months, every part summed (``None``: none)."""
        rates = [p.gbp_per_patient for p in self.parts if p.gbp_per_patient is not None]
        return None if self.merged_into_core or not rates else round(math.fsum(rates), 6)

    @property
    def wte_per_50000(self) -> float | None:
        """Funded CD time per 50,000 patients, averaged over the months of the year's payment."""
        timed = [p for p in self.parts if p.wte_per_50000 is not None]
        if self.merged_into_core or not timed or not self.months:
            return None
        return round(math.fsum(p.wte_per_50000 * p.months for p in timed) / self.months, 6)  # type: ignore[operator]

    def gbp(self, patients: float) -> float | None:
        """Return the pounds for ``patients`` over the year's months, or ``None`` when there are none."""
        rate = self.gbp_per_patient
        return None if rate is None else round(patients * rate, 2)

    def wte(self, patients: float) -> float | None:
        """Return the CD time funded for ``patients`` (WTE averaged over the year), or ``None``."""
        rate = self.wte_per_50000
        return None if rate is None else patients / PATIENTS_PER_UNIT * rate

    def money_words(self) -> str:
        """Return how the year's money is reckoned, e.g. ``'for July 2019 to March 2020 (9 months)'``."""
        return f"for {self.parts[0].period()}" if self.months != 12 else "for the year"

    def describe(self) -> str:
        """Return the year's funding in words: its money, the months it covers and the time it funds.

        Examples
        --------
        >>> print(read_rates()["2019/20"].describe())  # doctest: +ELLIPSIS
        2019/20: £0.5143 a registered patient for July 2019 to March 2020 (9 months), funded CD time 0.25 ...
        """
        if self.merged_into_core:
            return (
                f"{self.year}: the CD payment was merged into core PCN funding, so no separate CD money or "
                "time is funded; CD posts and distances only"
            )
        flag = " (uncertain)" if self.uncertain else ""
        total = self.gbp_per_patient
        money = (
            "no separate CD money"
            if total is None
            else f"£{total:.4f} a registered patient {self.money_words()}"
        )
        if len(self.parts) > 1:
            money += (
                " ("
                + " and ".join(
                    f"{'the ' if k == 0 else 'a '}{p.part} "
                    + ("" if p.gbp_per_patient is None else f"£{p.gbp_per_patient:g} ")
                    + f"for {p.period()}"
                    for k, p in enumerate(self.parts)
                )
                + ")"
            )
        base, mean = self.parts[0].wte_per_50000, self.wte_per_50000
        if base is None or mean is None:
            return f"{self.year}: {money}, no CD time set{flag}"
        time = f"funded CD time {base:g} WTE per 50,000 patients"
        for p in self.parts[1:]:
            if p.wte_per_50000:
                time += f", {base + p.wte_per_50000:g} in {p.period().split(' (')[0]}"
        if mean != base:
            time += f" ({mean:g} averaged over the year)"
        return f"{self.year}: {money}, {time}{flag}"


def _month_words(text: str) -> str:
    found = _MONTH.match(text)
    if not found or not 1 <= int(found.group(2)) <= 12:
        return text
    return f"{_MONTH_NAMES[int(found.group(2)) - 1]} {found.group(1)}"


def _flag(value: str) -> bool:
    return value.strip().lower() in {"true", "yes", "1", "y"}


def _number(text: str, path: object, line: int, column: str) -> float | None:
    """Read a blank (``None``) or non-negative number from a rates file; a one-line error if not."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        msg = f"rates file {path} line {line}: {column} {text!r} is not a non-negative number"
        raise DataError(msg)
    return value


def _year_months(year: str) -> tuple[str, str]:
    start = int(year[:4]) if year[:4].isdigit() else 0
    return f"{start:04d}-04", f"{start + 1:04d}-03"


def read_rates(path: str | os.PathLike[str] | None = None) -> dict[str, CdRate]:
    """Read a CD funding file (default: the shipped ``footprint/data/cd_rates.csv``).

    Parameters
    ----------
    path
        A CSV with columns ``year`` (``YYYY/YY``) and ``gbp_per_patient`` (the money per
        registered patient for the row's months; blank when there is none), and optionally
        ``part`` (``CD payment``, ``temporary uplift``: a year's first row is its payment),
        ``from`` and ``to`` (``YYYY-MM``), ``months`` (default 12), ``wte_per_50000`` (CD time
        funded while the row runs, WTE per 50,000 patients; default 0.25 for a payment, blank
        for none), ``merged_into_core`` and ``uncertain`` (true/false), ``source``,
        ``wte_source`` and ``note``. A year may have several rows: its money and time add up.

    Returns
    -------
    dict
        Year to :class:`CdRate`.

    Raises
    ------
    DataError
        If the file is missing, lacks ``year`` or ``gbp_per_patient``, or holds a rate, time
        or month count that is not a non-negative number (months 1 to 12).

    Examples
    --------
    >>> read_rates()["2020/21"].parts[0].gbp_per_patient
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
    has_time = "wte_per_50000" in frame.columns
    frame = frame.reindex(columns=list(_COLUMNS), fill_value="")
    parts: dict[str, list[RatePart]] = {}
    merged: dict[str, bool] = {}
    for line, row in enumerate(frame.to_dict(orient="records"), start=2):
        year = str(row["year"])
        gbp = _number(row["gbp_per_patient"], path, line, "gbp_per_patient")
        months = _number(row["months"], path, line, "months")
        if months is not None and not (months == int(months) and 1 <= months <= 12):
            msg = (
                f"rates file {path} line {line}: months {row['months']!r} is not a whole number from 1 to 12"
            )
            raise DataError(msg)
        first = year not in parts
        wte = _number(row["wte_per_50000"], path, line, "wte_per_50000")
        if wte is None and not has_time and first:
            wte = 0.25  # an older rates file: the time every year's payment funded
        start, end = _year_months(year)
        parts.setdefault(year, []).append(
            RatePart(
                part=row["part"] or ("CD payment" if first else "uplift"),
                start=row["from"] or start,
                end=row["to"] or end,
                months=12 if months is None else int(months),
                gbp_per_patient=gbp,
                wte_per_50000=wte,
                uncertain=_flag(row["uncertain"]),
                source=row["source"],
                wte_source=row["wte_source"],
                note=row["note"],
            )
        )
        merged[year] = merged.get(year, False) or _flag(row["merged_into_core"]) or (first and gbp is None)
    return {year: CdRate(year, tuple(rows), merged[year]) for year, rows in parts.items()}


def rate_for_year(year: str, rates: Mapping[str, CdRate] | None = None) -> CdRate:
    """Return the CD funding of ``year`` from ``rates`` (default: the shipped file).

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
