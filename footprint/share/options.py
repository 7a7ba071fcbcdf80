"""The limits and choices of a CD-sharing analysis.

:class:`ShareOptions` holds the distance, patient and practice limits of a shared clinical
director, the largest cluster of PCNs, named bases, the payment year and the distance limits
of the sensitivity table; it validates them on creation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from footprint.errors import DataError

__all__ = ["MAX_CLUSTER_SIZE", "SENSITIVITY_KM", "ShareOptions"]

#: Distance limits of the sensitivity table, km.
SENSITIVITY_KM = (5.0, 7.5, 10.0, 12.5, 15.0, 17.5, 20.0, 22.5, 25.0, 27.5, 30.0)
#: Largest cluster size whose candidates are listed (the number of clusters grows fast).
MAX_CLUSTER_SIZE = 6
_YEAR = re.compile(r"^\d{4}/\d{2}$")


@dataclass(frozen=True)
class ShareOptions:
    """The limits and choices of a CD-sharing analysis.

    Parameters
    ----------
    max_km
        Largest straight-line distance from a cluster's base to any member practice, km
        (``None``: no limit).
    max_patients
        Largest combined list size of a cluster (``None``: no limit).
    max_practices
        Largest number of practices in a cluster (``None``: no limit).
    cluster_size
        Largest number of PCNs sharing one CD (2: pairs).
    bases
        Practice codes named as CD bases: a cluster holding one of them is based there.
    across_ccgs
        Also count PCNs joined only across a CCG boundary (``cross_ccg`` edges) as neighbours.
    year
        Financial year of the CD funding, ``YYYY/YY`` (default 2022/23: the year whose
        payments were reckoned on list sizes of 1 January 2022, the shipped data's).
    sensitivity_km
        The distance limits at which the sensitivity table counts CD posts.

    Raises
    ------
    DataError
        If a limit is zero or negative, ``cluster_size`` is outside 2 to
        :data:`MAX_CLUSTER_SIZE`, or ``year`` is not written ``YYYY/YY``.

    Examples
    --------
    >>> ShareOptions(max_km=12).max_km
    12.0
    >>> ShareOptions(max_km=0)
    Traceback (most recent call last):
    ...
    footprint.errors.DataError: max_km 0 km must be a positive distance, e.g. 10
    """

    max_km: float | None = 10.0
    max_patients: int | None = None
    max_practices: int | None = None
    cluster_size: int = 2
    bases: tuple[str, ...] = ()
    across_ccgs: bool = False
    year: str = "2022/23"
    sensitivity_km: tuple[float, ...] = SENSITIVITY_KM

    def __post_init__(self) -> None:
        if self.max_km is not None:
            if not self.max_km > 0:
                msg = f"max_km {self.max_km:g} km must be a positive distance, e.g. 10"
                raise DataError(msg)
            object.__setattr__(self, "max_km", float(self.max_km))
        for name in ("max_patients", "max_practices"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                msg = f"{name} {value} must be a positive whole number"
                raise DataError(msg)
        if not 2 <= self.cluster_size <= MAX_CLUSTER_SIZE:
            msg = f"cluster_size {self.cluster_size} must lie between 2 (pairs) and {MAX_CLUSTER_SIZE}"
            raise DataError(msg)
        if not _YEAR.match(self.year):
            msg = f"year {self.year!r} is not a financial year: write it YYYY/YY, e.g. 2021/22"
            raise DataError(msg)
        if any(not d > 0 for d in self.sensitivity_km):
            msg = f"sensitivity distances {self.sensitivity_km} must all be positive km"
            raise DataError(msg)
        object.__setattr__(self, "bases", tuple(str(c).strip().upper() for c in self.bases))

    def limits_text(self) -> str:
        """Return the limits in words, e.g. ``'base to member <= 10 km'``."""
        parts = []
        if self.max_km is not None:
            parts.append(f"base to member <= {self.max_km:g} km")
        if self.max_patients is not None:
            parts.append(f"patients <= {self.max_patients:,}")
        if self.max_practices is not None:
            parts.append(f"practices <= {self.max_practices}")
        return "; ".join(parts) or "no limits"
