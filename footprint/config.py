"""Options shared by several stages, as frozen dataclasses validated on creation."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SizeBand", "SolveOptions"]


@dataclass(frozen=True)
class SizeBand:
    """The list-size band every PCN should meet.

    Parameters
    ----------
    low
        Smallest list size of an in-band group (NHS England: 30,000).
    high
        Largest list size of an in-band group (NHS England: "not tend to exceed" 50,000).

    Examples
    --------
    >>> SizeBand(30_000, 50_000).contains(42_000)
    True
    """

    low: int = 30_000
    high: int = 50_000

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            msg = (
                f"band {self.low:,}-{self.high:,} is not a range of list sizes: "
                "give 0 < low <= high, e.g. --band 30000,50000"
            )
            raise ValueError(msg)

    def contains(self, list_size: float) -> bool:
        """Return whether ``list_size`` lies inside the band (ends included)."""
        return self.low <= list_size <= self.high

    def deviation(self, list_size: float) -> float:
        """Return how many patients ``list_size`` lies outside the band (0 inside)."""
        return max(self.low - list_size, list_size - self.high, 0)

    @classmethod
    def from_string(cls, text: str) -> SizeBand:
        """Parse ``"30000,50000"`` as given on the command line."""
        parts = text.replace("_", "").split(",")
        try:
            low, high = (int(float(p)) for p in parts)
        except ValueError:
            msg = f"--band {text!r} is not two numbers: give LOW,HIGH, e.g. --band 30000,50000"
            raise ValueError(msg) from None
        return cls(low, high)


@dataclass(frozen=True)
class SolveOptions:
    """How the CP-SAT solver runs.

    Parameters
    ----------
    time_limit_s
        Time budget per CCG for the later objective stages, in seconds.
    workers
        CP-SAT search workers (``num_workers``).
    seed
        CP-SAT ``random_seed``; the same inputs, seed and workers give the same plan.
    deterministic
        Use CP-SAT's deterministic time instead of wall-clock time, so that a
        search cut short by the limit still repeats exactly.
    """

    time_limit_s: float = 10.0
    workers: int = 2
    seed: int = 0
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            msg = f"time limit {self.time_limit_s} s must be positive"
            raise ValueError(msg)
        if self.workers < 1:
            msg = f"workers {self.workers} must be at least 1"
            raise ValueError(msg)
