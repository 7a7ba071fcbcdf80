"""Explanations in planners' words: why each group out of band is so.

A group out of band is either exempt (a big practice standing alone, a group of rural
practices down to the rural floor, an approved group), locked (agreed, kept as given), or
a problem: then the explanation names its practices, its nearest neighbouring groups and
what the solver proved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from footprint.partition._instance import Instance, members_of
from footprint.partition.stages import StageResult

__all__ = ["explain_groups"]


def _nearest_groups(inst: Instance, labels: Sequence[int]) -> dict[int, dict[int, tuple[float, int, int]]]:
    """Return, per group, each neighbouring group's nearest link: (km, own practice, their practice)."""
    near: dict[int, dict[int, tuple[float, int, int]]] = {g: {} for g in set(labels)}
    for i, j in inst.edges:
        a, b = labels[i], labels[j]
        if a == b:
            continue
        km = inst.metres(i, j) / 1000
        for g, h, p, q in ((a, b, i, j), (b, a, j, i)):
            if h not in near[g] or km < near[g][h][0]:
                near[g][h] = (km, p, q)
    return near


def _who(inst: Instance, members: Sequence[int]) -> str:
    return ", ".join(f"{inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,})" for i in sorted(members))


def _proof(inst: Instance, stage1: StageResult) -> str:
    if stage1.proven:
        return (
            f"proven: no plan of {inst.ccg} has fewer than {stage1.value:.0f} out-of-band "
            "group(s) that are not exempt"
        )
    return (
        f"the best plan found has {stage1.value:.0f} out-of-band group(s) that are not exempt "
        f"(bound {stage1.bound:.0f})"
    )


def explain_groups(
    inst: Instance, labels: Sequence[int], ids: Mapping[int, str], stage1: StageResult
) -> dict[str, str]:
    """Say, for each group out of band (keyed by PCN id), which practices and why, in planner terms.

    Parameters
    ----------
    inst
        The CCG's instance.
    labels
        The grouping (a label per practice).
    ids
        Group label to PCN id.
    stage1
        The result of the first stage (fewest groups out of band and not exempt).
    """
    groups = members_of(labels)
    rules = inst.rules
    total = {g: sum(inst.sizes[i] for i in members) for g, members in groups.items()}
    locked = {tuple(g) for g in inst.locked}
    near: dict[int, dict[int, tuple[float, int, int]]] | None = None  # only for a group out of band
    notes = {}
    for g, members in groups.items():
        status = inst.status(members)
        if status == "in_band":
            continue
        verdict = rules.describe(total[g], status)
        if status == "exempt_large":
            i = members[0]
            notes[ids[g]] = (
                f"{inst.names[i]} ({inst.codes[i]}) has {inst.sizes[i]:,} patients, over {rules.band.high:,} "
                f"on its own: it stands alone as its own PCN; {verdict} (if big practices may merge, it "
                "may absorb small neighbours instead)"
            )
            continue
        head = f"{len(members)} practice(s) total {total[g]:,}: {_who(inst, members)}"
        if tuple(members) in locked:
            notes[ids[g]] = f"locked group (kept as agreed); {verdict}; {head}"
            continue
        if status.startswith("exempt_"):
            notes[ids[g]] = f"{verdict}; {head}; allowed, though counted out of band"
            continue
        side = (
            f"below the band of {rules.band.low:,}"
            if total[g] < rules.band.low
            else f"above the band's top of {rules.band.high:,}"
        )
        parts = [f"{len(members)} practice(s) total {total[g]:,}, {side}: {_who(inst, members)}"]
        if near is None:
            near = _nearest_groups(inst, labels)
        for h, (km, p, q) in sorted(near[g].items(), key=lambda item: item[1][0])[:3]:
            bridge = inst.bridges.get((min(p, q), max(p, q)))
            link = f"a {bridge:.1f} km bridge" if bridge is not None else f"{km:.1f} km"
            alone = " alone, over the band" if len(groups[h]) == 1 and inst.big[groups[h][0]] else ""
            parts.append(
                f"neighbour {ids[h]} ({total[h]:,}{alone}) is {link} away ({inst.names[p]} to "
                f"{inst.names[q]}); together {total[g] + total[h]:,}"
            )
        if not near[g]:
            parts.append("no neighbouring group in its CCG")
        parts.append(_proof(inst, stage1))
        notes[ids[g]] = "; ".join(parts)
    return notes
