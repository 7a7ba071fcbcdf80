"""Options shared by several stages, as frozen dataclasses validated on creation."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STAGES", "Rules", "SizeBand", "SolveOptions"]

#: Objective stages the partitioner can minimise, in the order a plan uses by default.
STAGES = ("out_of_band", "deviation", "split_sites", "compactness", "moves")


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
class Rules:
    """The planning rules every plan is held to.

    Parameters
    ----------
    band
        The list-size band of a PCN.
    rural_ccgs
        CCG codes all of whose practices count as rural.
    rural_floor
        Smallest list size of a group of rural practices (practices flagged ``rural``
        in the practices file, or of ``rural_ccgs``); the smallest PCNs approved in
        2019 were just under 20,000.
    big_may_merge
        Let a practice over ``band.high`` absorb small neighbours; by default it
        stands alone as its own PCN.
    keep_sites
        Make keeping practices of one building together a hard rule rather than an
        objective stage.
    stages
        Objective stages, minimised one after another (see :data:`STAGES`).
        ``"out_of_band"`` must come first; ``"moves"`` needs the current PCNs.

    Examples
    --------
    >>> Rules(rural_floor=25_000).band.low
    30000
    """

    band: SizeBand = SizeBand()
    rural_ccgs: frozenset[str] = frozenset()
    rural_floor: int = 20_000
    big_may_merge: bool = False
    keep_sites: bool = False
    stages: tuple[str, ...] = ("out_of_band", "deviation", "split_sites", "compactness")

    def __post_init__(self) -> None:
        object.__setattr__(self, "rural_ccgs", frozenset(c.strip().upper() for c in self.rural_ccgs))
        if not 0 < self.rural_floor <= self.band.low:
            low = self.band.low
            msg = f"rural floor {self.rural_floor:,} must lie between 1 and the band's low end {low:,}"
            raise ValueError(msg)
        stages = self.stages
        if (
            any(s not in STAGES for s in stages)
            or not stages
            or stages[0] != "out_of_band"
            or len(set(stages)) < len(stages)
        ):
            msg = (
                f"objective stages {stages} are not valid: give distinct stages from {STAGES}, "
                "starting with out_of_band"
            )
            raise ValueError(msg)


@dataclass(frozen=True)
class SolveOptions:
    """How the CP-SAT solver runs.

    Parameters
    ----------
    time_limit_s
        Time budget per CCG for each objective stage after the first, in seconds.
        With ``deterministic`` it is CP-SAT's deterministic time (about seconds).
    proof_limit_s
        Time allowed per CCG to prove the first stage (fewest out-of-band groups).
    workers
        CP-SAT search workers (``num_workers``) per CCG; the first stage, when it needs a
        search at all, uses at least 2 (its large-neighbourhood search finds what one worker
        does not).
    processes
        CCGs solved at once, each in its own process.
    seed
        CP-SAT ``random_seed``; the same inputs, seed and workers give the same plan.
    deterministic
        Limit by deterministic time, with interleaved search when ``workers > 1``, so
        that a search cut short by the limit still repeats exactly.
    params
        Raw CP-SAT parameters in text format, applied last (an escape hatch, e.g.
        ``"linearization_level:2"``).
    """

    time_limit_s: float = 0.05
    proof_limit_s: float = 60.0
    workers: int = 1
    processes: int = 2
    seed: int = 0
    deterministic: bool = True
    params: str = ""

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0 or self.proof_limit_s <= 0:
            msg = f"time limits ({self.time_limit_s} s, {self.proof_limit_s} s) must be positive"
            raise ValueError(msg)
        if self.workers < 1 or self.processes < 1:
            msg = f"workers ({self.workers}) and processes ({self.processes}) must be at least 1"
            raise ValueError(msg)
