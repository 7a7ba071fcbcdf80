"""Starts for the moves stage closer to the current PCNs: the PCNs mended, practices walked back.

The moves stage (``plan --stay-close``) keeps the stages before it at their values; its
start is the best grouping found so far that meets them. :func:`stay_close_starts` offers
the current PCNs mended as repair mends them (groups above the ceiling cut too), and
:func:`closer_to_current` walks practices on a
group's border back into the group matched to their current PCN, one at a time, where
both groups stay connected and in band (so no stage before it gets worse: groups out of
band, patients outside the band) and no building is newly split; it repeats, matching the
groups to the current PCNs again, until no practice can go back. CP-SAT searches on from it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from footprint.partition._instance import Instance, match_current, members_of
from footprint.partition._repair_start import repair_rules, repair_start

__all__ = ["closer_to_current", "stay_close_starts"]

#: Most passes over the practices (each pass matches the groups to the current PCNs again).
MOST_PASSES = 20


def _connected(members: set[int], adjacency: Sequence[Sequence[int]]) -> bool:
    if not members:
        return False
    start = next(iter(members))
    seen, queue = {start}, deque([start])
    while queue:
        u = queue.popleft()
        for v in adjacency[u]:
            if v in members and v not in seen:
                seen.add(v)
                queue.append(v)
    return len(seen) == len(members)


def closer_to_current(inst: Instance, labels: Sequence[int]) -> list[int]:
    """Return ``labels`` with border practices walked back to the groups matched to their current PCNs.

    A practice goes back only where both its group and the one it joins stay connected and
    in band, it is not fixed (locked, or standing alone over the band) and it shares no
    building with another practice. Returns ``labels`` unchanged without current PCNs.

    Examples
    --------
    >>> from footprint.config import Rules
    >>> inst = Instance("X", list("ABCDE"), list("abcde"), [20_000, 15_000, 10_000, 20_000, 10_000],
    ...                 [(0.0, 0.0)] * 5, [(0, 1), (1, 2), (2, 3), (3, 4)], {}, [], [False] * 5,
    ...                 [False] * 5, [], [0, 0, 1, 1, 1], Rules())
    >>> closer_to_current(inst, [0, 0, 0, 3, 3])  # C belongs with D and E: both groups stay in band
    [0, 0, 2, 2, 2]
    """
    labels = list(labels)
    if inst.current is None:
        return labels
    current = inst.current
    adjacency = inst.neighbours()
    band = inst.rules.band
    fixed = {i for group in inst.locked for i in group} | {i for i in range(inst.n) if inst.big[i]}
    fixed |= {i for site in inst.sites for i in site if len(site) > 1}
    groups = {g: set(m) for g, m in members_of(labels).items()}
    total = {g: sum(inst.sizes[i] for i in m) for g, m in groups.items()}
    locked_labels = {labels[group[0]] for group in inst.locked}
    for _ in range(MOST_PASSES):
        root_of = [min(groups[labels[i]]) for i in range(inst.n)]
        matched = match_current(inst, root_of)
        home = {c: labels[r] for c, r in matched.items()}  # current PCN -> the group matched to it
        walked = False
        for i in range(inst.n):
            c, g = current[i], labels[i]
            h = home.get(c)
            if i in fixed or c < 0 or h is None or h == g or h in locked_labels:
                continue
            if not any(labels[j] == h for j in adjacency[i]):
                continue
            size = inst.sizes[i]
            if not (band.low <= total[g] - size and total[h] + size <= band.high):
                continue
            if not (band.low <= total[g] <= band.high and band.low <= total[h] <= band.high):
                continue
            rest = groups[g] - {i}
            if not _connected(rest, adjacency):
                continue
            groups[g].discard(i)
            groups[h].add(i)
            total[g] -= size
            total[h] += size
            labels[i] = h
            walked = True
        if not walked:
            break
    # Relabel each group by its smallest practice (the model's and the evaluators' convention).
    return [min(groups[labels[i]]) for i in range(inst.n)]


def stay_close_starts(inst: Instance, labels: Sequence[int], fixed: Mapping[str, float]) -> list[list[int]]:
    """Return starts for the moves stage near the current PCNs that meet the stages before it.

    ``labels`` walked back (:func:`closer_to_current`), and the current PCNs mended (repair's
    start: groups above the ceiling cut too, buildings put together first, the rules of
    repair off, since a plan may regroup anything) and walked back; those that meet the
    values ``fixed`` of the stages before the moves. (Searching on from the mended PCNs
    with the same model found 2,045 moves over England against 2,086, at twice the time.)
    """
    if inst.current is None:
        return []
    from footprint.partition.stages import stage_values  # it imports this module's caller

    def meets(start: Sequence[int]) -> bool:
        values = stage_values(inst, start, list(fixed))
        return all(values[s] <= fixed[s] for s in fixed)

    rules = repair_rules(inst, active=False)
    starts = [closer_to_current(inst, labels)]
    for sites_kept in (False, True):
        mended = repair_start(inst, rules, split_large=True, plan_order=True, sites_kept=sites_kept)
        starts.append(closer_to_current(inst, mended))
    return [start for start in starts if meets(start)]
