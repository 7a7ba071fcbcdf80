"""Options shared by several stages, as frozen dataclasses validated on creation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BREAKS",
    "DEFAULT_STAGES",
    "EXEMPTIONS",
    "SESSIONS_PER_WTE",
    "STAGES",
    "GroupStatus",
    "Rules",
    "SizeBand",
    "SolveOptions",
]

#: Objective stages the partitioner can minimise: ``out_of_band`` counts the groups out of
#: band that are not exempt (they break the rules), ``out_of_band_all`` every group out of
#: band (exempt ones too); then patients outside the band, buildings split, practices
#: moved from the current PCNs and compactness.
STAGES = ("out_of_band", "out_of_band_all", "deviation", "split_sites", "moves", "compactness")
#: The stages of a plan made from scratch, in order.
DEFAULT_STAGES = ("out_of_band", "out_of_band_all", "deviation", "split_sites", "compactness")
#: The compactness stage stops searching once its bound is within this share of the plan's
#: figure; a CCG whose every stage is proven or within it counts as "within the gap".
COMPACTNESS_GAP = 0.02

#: Why a group out of band may still be approved: a practice over the ceiling standing
#: alone, a group of rural practices down to the rural floor, or a group a commissioner
#: approved as an exception.
EXEMPTIONS = ("large", "rural", "approved")

#: Sessions a week in one WTE: a session is half a day (4 hours), so 0.2 WTE is one day,
#: two sessions (shared/POLICY.md: 0.25 WTE per 50,000 patients is "about one day per 40,000";
#: "two sessions a week (8 hours)"). Clinical-director sharing counts funded time in sessions
#: with it, and its report says so.
SESSIONS_PER_WTE = 10

#: What the band rule says of one group.
GroupStatus = Literal["in_band", "below", "above", "exempt_large", "exempt_rural", "exempt_approved"]
#: The statuses of a group that breaks the band rule: out of band and not exempt.
BREAKS: tuple[GroupStatus, ...] = ("below", "above")

_EXEMPT_WORDS = {
    "large": "a practice over {high:,} standing alone as its own PCN",
    "rural": "a group of rural practices, approvable down to the rural floor of {floor:,}",
    "approved": "approved by the commissioner as an exception",
}


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
    stages: tuple[str, ...] = DEFAULT_STAGES

    def __post_init__(self) -> None:
        object.__setattr__(self, "rural_ccgs", frozenset(c.strip().upper() for c in self.rural_ccgs))
        if not 0 < self.rural_floor <= self.band.low:
            low = self.band.low
            msg = (
                f"rural_floor {self.rural_floor:,} must lie between 1 and the band's low end {low:,}: "
                "lower rural_floor or raise the band's low end"
            )
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

    # The one band rule: solver, evaluation, summaries and maps all ask these methods.

    def is_rural(self, ccg_code: str, *, flagged: bool = False) -> bool:
        """Return whether a practice of ``ccg_code`` counts as rural (flagged, or its CCG waived)."""
        return flagged or ccg_code in self.rural_ccgs

    def deviation(self, list_size: float) -> int:
        """Return how many patients a group of ``list_size`` lies outside the band (0 in band).

        Exempt groups deviate too: the figure is always measured from the band itself.
        """
        return int(self.band.deviation(list_size))

    def exemption(
        self, list_size: float, *, practices: int, rural: bool, approved: bool = False
    ) -> str | None:
        """Return why a group out of band may still be approved (see :data:`EXEMPTIONS`), or ``None``.

        Parameters
        ----------
        list_size
            The group's total list size.
        practices
            How many practices the group holds.
        rural
            Whether every practice of the group is rural.
        approved
            Whether a commissioner approved the group as an exception.

        Examples
        --------
        >>> rules = Rules(rural_floor=20_000)
        >>> rules.exemption(24_000, practices=3, rural=True)
        'rural'
        >>> rules.exemption(64_000, practices=1, rural=False)
        'large'
        >>> rules.exemption(24_000, practices=3, rural=False) is None
        True
        """
        if self.band.contains(list_size):
            return None
        if approved:
            return "approved"
        if practices == 1 and list_size > self.band.high and not self.big_may_merge:
            return "large"
        if rural and self.rural_floor <= list_size < self.band.low:
            return "rural"
        return None

    def group_status(
        self, list_size: float, *, practices: int, rural: bool, approved: bool = False
    ) -> GroupStatus:
        """Return what the band rule says of one group: in band, exempt (and why), below or above.

        Examples
        --------
        >>> Rules().group_status(42_000, practices=5, rural=False)
        'in_band'
        >>> Rules().group_status(24_000, practices=3, rural=True)
        'exempt_rural'
        >>> Rules().group_status(24_000, practices=3, rural=False)
        'below'
        """
        if self.band.contains(list_size):
            return "in_band"
        why = self.exemption(list_size, practices=practices, rural=rural, approved=approved)
        if why is not None:
            return f"exempt_{why}"  # type: ignore[return-value]
        return "below" if list_size < self.band.low else "above"

    def describe(self, list_size: float, status: GroupStatus) -> str:
        """Return the band rule's verdict on a group in plain words.

        Examples
        --------
        >>> Rules().describe(25_000, "below")
        'out of band: 5,000 below 30,000-50,000'
        >>> Rules().describe(64_000, "exempt_large")
        'exempt (a practice over 50,000 standing alone as its own PCN); 14,000 above 30,000-50,000'
        """
        band = f"{self.band.low:,}-{self.band.high:,}"
        if status == "in_band":
            return f"in band {band}"
        side = "below" if list_size < self.band.low else "above"
        gap = f"{self.deviation(list_size):,} {side} {band}"
        if status.startswith("exempt_"):
            why = _EXEMPT_WORDS[status.removeprefix("exempt_")]
            return f"exempt ({why.format(high=self.band.high, floor=self.rural_floor)}); {gap}"
        return f"out of band: {gap}"


@dataclass(frozen=True)
class SolveOptions:
    """How the CP-SAT solver runs.

    Parameters
    ----------
    time_limit_s
        Time budget per CCG for each objective stage after the first, in seconds.
        With ``deterministic`` it is CP-SAT's deterministic time (about seconds). Repair
        searches its moves for 1 s (1.5 s where its errors need no search), or for this
        where longer.
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
    fast
        Return the first valid plan: the warm start, searched by CP-SAT only where it
        misses the first stage's bound; the later stages are evaluated, not searched
        (proven only where the plan meets their bound).
    compactness_search
        CCGs of at most this many practices find the compactness stage's optimum: by
        weighing every grouping (in a millisecond or two, proven optimal), or where the
        model carries extra rules or stages or that takes too long, by a CP-SAT search
        from the polished plan; larger ones keep the polished plan, which a short search
        rarely improved on England. 0: never search it.
    """

    time_limit_s: float = 0.05
    proof_limit_s: float = 60.0
    workers: int = 1
    processes: int = 2
    seed: int = 0
    deterministic: bool = True
    params: str = ""
    fast: bool = False
    compactness_search: int = 10

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0 or self.proof_limit_s <= 0:
            msg = f"time limits ({self.time_limit_s} s, {self.proof_limit_s} s) must be positive"
            raise ValueError(msg)
        if self.compactness_search < 0:
            msg = f"compactness_search ({self.compactness_search}) must be 0 or more practices"
            raise ValueError(msg)
        if self.workers < 1 or self.processes < 1:
            msg = f"workers ({self.workers}) and processes ({self.processes}) must be at least 1"
            raise ValueError(msg)
