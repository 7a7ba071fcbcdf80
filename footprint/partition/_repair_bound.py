"""A lower bound on repair's moves: what the broken groups of a CCG must lose, at least.

Each existing group that breaks a hard rule *needs* moves: its own practices leaving it,
or practices of other groups joining it (an open practice is placed at no cost):

- a group in pieces keeps at most one piece unless practices between its pieces join it:
  either its other pieces move (their practices) or connectors join (every practice of
  another group on a path between two kept pieces, and the kept pieces may total no more
  than the ceiling: a group of practices of two groups may not lie above it);
- a group below the floor must gain practices next to it (as many as the largest within
  reach must be to fill its deficit; open practices within reach count in full) or lose
  all its own; above the ceiling (when those are errors too), lose practices worth its excess;
- a pair kept together in two existing groups, or apart in one: one of the two moves.

Two bounds are taken, the larger given:

- *roles*: a practice that moves leaves one existing group (it is that group's own move)
  and joins at most one group matched to another (it is that group's joiner), so the moves
  are at least the larger of the own moves and the joiners summed over the needs, for the
  choice of each need's options (drop or connect, join or dissolve) that makes this least;
- *witnesses*: each need's moves fall among a set of practices, its witnesses (the group
  and the practices next to it); the needs are added one after another, each counting
  only what its witnesses not yet counted must give (``max(0, k - |W ∩ counted|)``).

In both, the band needs may be left unmet by as many groups as the first stage leaves
breaking the band: the roles bound lets that many go unmet, the witnesses bound takes off
the largest. Pairs count in the witnesses bound only.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from footprint.partition._instance import Instance, members_of
from footprint.partition._repair_start import current_pieces

__all__ = ["moves_lower_bound"]


@dataclass(frozen=True)
class _Need:
    """At least ``k`` practices of ``witnesses`` move; ``optional`` when the band may stay broken."""

    witnesses: frozenset[int]
    k: int
    optional: bool


def _piece_distances(
    inst: Instance, pieces: Sequence[list[int]], blocked: set[int], witness: set[int]
) -> list[int]:
    """Return, per piece, the fewest ``witness`` practices between it and another piece (0-1 search).

    Paths run through any practice not ``blocked`` (locked, or standing alone); practices
    of the group's other pieces are the targets.
    """
    adjacency = inst.neighbours()
    piece_of = {i: k for k, piece in enumerate(pieces) for i in piece}
    out = []
    for k, piece in enumerate(pieces):
        dist = dict.fromkeys(piece, 0)
        queue = deque(piece)
        best = None
        while queue:
            u = queue.popleft()
            d = dist[u]
            if best is not None and d >= best:
                continue
            for v in adjacency[u]:
                if piece_of.get(v, k) != k:
                    best = d if best is None else min(best, d)
                    continue
                if v in piece_of or v in blocked:
                    continue
                step = d + (v in witness)
                if step < dist.get(v, step + 1):
                    dist[v] = step
                    if v in witness:
                        queue.append(v)
                    else:
                        queue.appendleft(v)
        out.append(inst.n if best is None else best)
    return out


def _split_need(sizes: list[int], dist: list[int]) -> int:
    """Return the fewest moves a group in pieces needs: keep one piece, or connect some and drop the rest."""
    total = sum(sizes)
    least = total - max(sizes)
    for tau in sorted(set(dist)):
        kept = [k for k, d in enumerate(dist) if d <= tau]
        if len(kept) >= 2:
            least = min(least, tau + sum(s for s, d in zip(sizes, dist, strict=True) if d > tau))
    return least


@dataclass(frozen=True)
class _Broken:
    """The existing groups of a CCG that may break a rule, by group: their connected pieces."""

    pieces: dict[int, list[list[int]]]
    #: Practices no group can take in: locked, or standing alone over the band.
    blocked: set[int]
    #: Open practices (placed at no cost).
    free: set[int]


def _broken(inst: Instance) -> _Broken:
    """Return each existing group's pieces, but groups with a practice locked or standing alone."""
    assert inst.current is not None
    current = inst.current
    labels, _ = current_pieces(inst)
    agreed = {i for group in inst.locked for i in group}
    blocked = agreed | {i for i in range(inst.n) if inst.big[i]}
    held = {current[i] for i in blocked if current[i] >= 0}  # no need is sure of these
    pieces: dict[int, list[list[int]]] = {}
    for members in members_of(labels).values():
        c = current[members[0]]
        if c >= 0 and c not in held:
            pieces.setdefault(c, []).append(members)
    free = {i for i in range(inst.n) if current[i] < 0 and i not in blocked}
    return _Broken(dict(sorted(pieces.items())), blocked, free)


def _open_reach(members: Sequence[int], adjacency: Sequence[Sequence[int]], free: set[int]) -> set[int]:
    """Return the open practices connected to ``members`` through open practices."""
    seen: set[int] = set()
    stack = [j for i in members for j in adjacency[i] if j in free]
    while stack:
        u = stack.pop()
        if u not in seen:
            seen.add(u)
            stack.extend(v for v in adjacency[u] if v in free and v not in seen)
    return seen


def _fewest_to_shed(inst: Instance, members: Sequence[int]) -> int:
    """Return the fewest practices a group above the ceiling must lose to come down to it."""
    excess = sum(inst.sizes[i] for i in members) - inst.rules.band.high
    k, shed = 0, 0
    for size in sorted((inst.sizes[i] for i in members), reverse=True):
        if shed >= excess:
            break
        k, shed = k + 1, shed + size
    return k


def _band_need(inst: Instance, members: list[int], broken: _Broken) -> _Need | None:
    """Return a connected group's band need (``None`` where open practices may mend it)."""
    assert inst.current is not None
    current, adjacency = inst.current, inst.neighbours()
    if inst.status(members) == "above":
        # Above the ceiling only losing practices helps: the fewest worth the excess.
        return _Need(frozenset(members), _fewest_to_shed(inst, members), optional=True)
    # Open practices join at no cost: the group may grow through those next to it, and a
    # practice of another group that joins lies next to the group or to them.
    reach = _open_reach(members, adjacency, broken.free)
    if sum(inst.sizes[i] for i in [*members, *reach]) >= inst.rules.band.low:
        return None
    around = {j for i in [*members, *reach] for j in adjacency[i] if current[j] >= 0}
    return _Need(frozenset(set(members) | around), 1, optional=True)


def _host_pieces(inst: Instance, around: set[int]) -> list[list[int]]:
    """Return the pieces of existing groups (locked groups, lone practices) holding ``around``."""
    labels, _ = current_pieces(inst)
    pieces = members_of(labels)
    return [pieces[label] for label in sorted({labels[j] for j in around})]


def _lands(inst: Instance, piece: list[int], dropped: Sequence[list[int]], broken: _Broken) -> bool:
    """Return whether a piece that leaves its group may join a group as it is, or stand alone (or unsure).

    Alone, it (a connected part of it) may form a group where it reaches the floor. Else it
    joins a neighbouring group ``D`` whole: where ``D`` is all of its existing group, with no
    open practice next to it, not locked, not rural, the group is ``D``, part of the piece
    and the pieces leaving next to ``D``, at most: it must be able to lie in band.
    """
    assert inst.current is not None
    current, adjacency, band = inst.current, inst.neighbours(), inst.rules.band
    if sum(inst.sizes[i] for i in piece) >= band.low or any(inst.rural[i] for i in piece):
        return True
    mine = set(piece)
    around = {j for i in piece for j in adjacency[i]} - mine
    if any(current[j] < 0 for j in around):
        return True  # open practices next to it: unsure
    whole = {c: [i for i in range(inst.n) if current[i] == c] for c in {current[j] for j in around}}
    for host in _host_pieces(inst, around):
        if len(host) == 1 and inst.big[host[0]]:
            continue  # a practice over the band stands alone
        c = current[host[0]]
        if (
            any(i in broken.blocked or inst.rural[i] or current[i] != c for i in host)
            or len(whole[c]) != len(host)
            or any(current[j] < 0 and j not in mine for i in host for j in adjacency[i])
        ):
            return True  # locked, rural, in pieces or with open practices near: unsure
        total = sum(inst.sizes[i] for i in host)
        near = {j for i in host for j in adjacency[i]}
        joining = sum(sum(inst.sizes[i] for i in other) for other in dropped if near & set(other))
        if total + min(inst.sizes[i] for i in piece) <= band.high and total + joining >= band.low:
            return True
    return False


def _open_groups(inst: Instance, broken: _Broken) -> list[list[int]]:
    """Return the open practices (not locked nor standing alone) in groups connected through each other."""
    adjacency, seen, out = inst.neighbours(), set(), []
    for start in sorted(broken.free):
        if start in seen:
            continue
        group, stack = [], [start]
        seen.add(start)
        while stack:
            u = stack.pop()
            group.append(u)
            for v in adjacency[u]:
                if v in broken.free and v not in seen:
                    seen.add(v)
                    stack.append(v)
        out.append(sorted(group))
    return out


def _landing_need(inst: Instance, pieces: list[list[int]], dist: Sequence[int], broken: _Broken) -> int:
    """Return the fewest moves of a group in pieces, counting one more where a piece that goes cannot land.

    Options: keep one piece (the others go), let every piece go, or connect pieces (their
    landing not weighed). A piece that goes and can join no group as it is
    (:func:`_lands`) means another practice near it moves.
    """
    n = sum(len(p) for p in pieces)
    options = [n + int(not all(_lands(inst, p, pieces, broken) for p in pieces))]
    for k, kept in enumerate(pieces):
        dropped = [p for j, p in enumerate(pieces) if j != k]
        options.append(n - len(kept) + int(not all(_lands(inst, p, dropped, broken) for p in dropped)))
    for tau in sorted(set(dist)):
        near = [pieces[k] for k, d in enumerate(dist) if d <= tau]
        # Connected through others, the practices kept make a group of two groups at least:
        # within the ceiling (parts of the pieces may be kept; two pieces at least).
        if len(near) < 2:
            continue
        smallest = sorted(near, key=lambda piece: min(inst.sizes[i] for i in piece))[:2]
        if _most_kept(inst, smallest, inst.rules.band.high):
            together = [i for piece in near for i in piece]
            options.append(tau + n - _most_kept(inst, [together], inst.rules.band.high))
    return min(options)


def _needs(
    inst: Instance,
    breaks: Sequence[str],
    together: Sequence[tuple[int, int]],
    apart: Sequence[tuple[int, int]],
    left: int = 0,
) -> list[_Need]:
    assert inst.current is not None
    current = inst.current
    adjacency = inst.neighbours()
    broken = _broken(inst)
    needs = []
    for c, pieces in broken.pieces.items():
        members = [i for piece in pieces for i in piece]
        near = {j for i in members for j in adjacency[i] if current[j] != c}
        witness = set(members) | {j for j in near if current[j] >= 0}
        if len(pieces) > 1:
            dist = _piece_distances(inst, pieces, broken.blocked, witness - set(members))
            k = _split_need([len(p) for p in pieces], dist)
            if k and not left:
                # The pieces that go must go somewhere: where one can join no group as it is, more move.
                landed = _landing_need(inst, pieces, dist, broken)
                if landed > k:
                    k = landed
                    hosts = {i for piece in _host_pieces(inst, near) for i in piece}
                    witness |= hosts | {j for i in hosts for j in adjacency[i] if current[j] >= 0}
            if k:
                needs.append(_Need(frozenset(witness), k, optional=False))
                continue
            # Open practices may join the pieces at no cost: then the group is judged whole.
        if inst.status(members) in breaks and (need := _band_need(inst, members, broken)) is not None:
            needs.append(need)
    if not left and "below" in breaks:
        # An open practice (with those next to it) below the floor that can join no group as it
        # is: a practice near it moves.
        for group in _open_groups(inst, broken):
            if not _lands(inst, group, [group], broken):
                around = {j for i in group for j in adjacency[i]} - set(group)
                hosts = {i for piece in _host_pieces(inst, around) for i in piece}
                witness = (around | hosts | {j for i in hosts for j in adjacency[i]}) - broken.free
                needs.append(_Need(frozenset(j for j in witness if current[j] >= 0), 1, optional=True))
    for a, b in together:
        if current[a] >= 0 and current[b] >= 0 and current[a] != current[b]:
            needs.append(_Need(frozenset((a, b)), 1, optional=False))
    for a, b in apart:
        if current[a] >= 0 and current[a] == current[b]:
            needs.append(_Need(frozenset((a, b)), 1, optional=False))
    return needs


#: An option of a need: (own moves, joiners, whether the band is left unmet).
Option = tuple[int, int, int]
#: Most joiners a group below the floor is said to need (a bound: it may need more).
MOST_JOINERS = 10
#: Most pieces of a group whose subsets are weighed for a connection within the ceiling.
MOST_PIECES = 10


def _distances(
    inst: Instance, sources: Sequence[int], blocked: set[int], free: set[int], mine: set[int]
) -> dict[int, int]:
    """Return each practice's fewest moved practices from ``sources`` (0-1 search; ``free`` ones cost 0).

    Practices of the group itself (``mine``) are reached but not passed through.
    """
    adjacency = inst.neighbours()
    dist = dict.fromkeys(sources, 0)
    queue = deque(sources)
    while queue:
        u = queue.popleft()
        if u in mine and u not in sources:
            continue
        for v in adjacency[u]:
            if v in blocked:
                continue
            step = dist[u] + (0 if v in free or v in mine else 1)
            if step < dist.get(v, step + 1):
                dist[v] = step
                if step == dist[u]:
                    queue.appendleft(v)
                else:
                    queue.append(v)
    return dist


def _weighted_distances(
    inst: Instance, sources: Sequence[int], blocked: set[int], mine: set[int]
) -> dict[int, int]:
    """Return each practice's fewest patients of other practices between it and ``sources`` (Dijkstra).

    Every practice on the way counts its patients (an open one too: it joins the group);
    practices of the group itself (``mine``) are reached but not passed through.
    """
    adjacency = inst.neighbours()
    dist = dict.fromkeys(sources, 0)
    heap = [(0, i) for i in sources]
    heapq.heapify(heap)
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist.get(u, d) or (u in mine and u not in sources):
            continue
        for v in adjacency[u]:
            if v in blocked:
                continue
            step = d + (0 if v in mine else inst.sizes[v])
            if step < dist.get(v, step + 1):
                dist[v] = step
                heapq.heappush(heap, (step, v))
    return dist


def _joiners_to_floor(inst: Instance, members: Sequence[int], blocked: set[int], free: set[int]) -> int:
    """Return the fewest practices of other groups a group must gain to reach the floor (at most 10).

    0 where open practices within reach may bring it there at no cost.
    """
    dist = _distances(inst, members, blocked, free, set(members))
    total = sum(inst.sizes[i] for i in members)
    low = inst.rules.band.low
    for t in range(MOST_JOINERS + 1):
        # With t joiners, every practice of the group lies within t moved practices of it.
        reach = [i for i, d in dist.items() if d <= t and i not in members]
        gained = sum(inst.sizes[i] for i in reach if i in free)
        gained += sum(sorted((inst.sizes[i] for i in reach if i not in free), reverse=True)[:t])
        if total + gained >= low:
            return t
    return MOST_JOINERS


def _most_kept(inst: Instance, pieces: Sequence[list[int]], budget: float) -> int:
    """Return at most how many practices of ``pieces`` a group of ``budget`` patients holds (smallest first).

    0 where it cannot hold one practice of each piece. A bound: the group may keep parts of them.
    """
    if sum(min(inst.sizes[i] for i in piece) for piece in pieces) > budget:
        return 0
    count, total = 0, 0
    for size in sorted(inst.sizes[i] for piece in pieces for i in piece):
        if total + size > budget:
            break
        count, total = count + 1, total + size
    return count


def _kept_options(
    inst: Instance,
    kept: list[int],
    own: int,
    conn: int,
    broken: _Broken,
    breaks: Sequence[str],
    *,
    mixed: bool = False,
) -> list[Option]:
    """Return the options of a group keeping ``kept`` (``own`` moves, ``conn`` joiners so far).

    Keeping only part of ``kept`` needs more own moves, and at least as many joiners to
    reach the floor. ``mixed``: the group holds others' practices, so ``own`` already keeps
    it under the ceiling.
    """
    status = inst.status(kept)
    if status == "below" and status in breaks:
        joiners = _joiners_to_floor(inst, kept, broken.blocked, broken.free)
        return [(own, max(conn, joiners), 0), (own, conn, 1)]
    if status == "above" and status in breaks and not mixed:
        return [(own + _fewest_to_shed(inst, kept), conn, 0), (own, conn, 1)]
    return [(own, conn, 0)]


def _split_options(
    inst: Instance, pieces: list[list[int]], broken: _Broken, breaks: Sequence[str]
) -> list[Option]:
    """Return a group in pieces' options: keep one piece, or connect pieces within the ceiling, or move all.

    Whatever it keeps must then be in band (or the band left unmet): below the floor it
    needs joiners, above the ceiling it sheds practices.
    """
    blocked, free = broken.blocked, broken.free
    mine = {i for piece in pieces for i in piece}
    patients = [sum(inst.sizes[i] for i in p) for p in pieces]
    options: list[Option] = [(len(mine), 0, 0)]
    for piece in pieces:
        options += _kept_options(inst, piece, len(mine) - len(piece), 0, broken, breaks)
    dist, weight = [], []
    for k, piece in enumerate(pieces):
        reach = _distances(inst, piece, blocked, free, mine)
        heavy = _weighted_distances(inst, piece, blocked, mine)
        others = [i for j, other in enumerate(pieces) if j != k for i in other]
        dist.append(min((reach[i] for i in others if i in reach), default=None))
        weight.append(min((heavy[i] for i in others if i in heavy), default=0))
    high = inst.rules.band.high
    if len(pieces) > MOST_PIECES:
        high = sum(patients) + max(weight)  # too many subsets: the ceiling is not weighed (a weaker bound)
    for tau in sorted({d for d in dist if d is not None}):
        near = [k for k, d in enumerate(dist) if d is not None and d <= tau]
        subsets = (
            [c for size in range(2, len(near) + 1) for c in combinations(near, size)]
            if len(near) <= MOST_PIECES
            else [tuple(near)]
        )
        for chosen in subsets:
            # Connected, the practices kept and those between them are of two groups at least:
            # no more than the ceiling (parts of the pieces may be kept).
            most = _most_kept(inst, [pieces[k] for k in chosen], high - max(weight[k] for k in chosen))
            if not most:
                continue
            kept = [i for k in chosen for i in pieces[k]]
            options += _kept_options(inst, kept, len(mine) - most, tau, broken, breaks, mixed=True)
    return sorted(set(options))


def _below_options(
    inst: Instance, members: list[int], blocked: set[int], free: set[int]
) -> list[Option] | None:
    """Return a group below the floor's options: gain enough joiners, lose all its own, or stay below.

    ``None`` where open practices within reach may bring it into band at no cost.
    """
    joiners = _joiners_to_floor(inst, members, blocked, free)
    if not joiners:
        return None
    return [(0, joiners, 0), (len(members), 0, 0), (0, 0, 1)]


def _role_options(inst: Instance, breaks: Sequence[str]) -> list[list[Option]]:
    """Return each broken group's options (own moves, joiners, band left unmet)."""
    broken = _broken(inst)
    needs = []
    for pieces in broken.pieces.values():
        members = [i for piece in pieces for i in piece]
        if len(pieces) > 1:
            options = _split_options(inst, pieces, broken, breaks)
            if min(own + conn for own, conn, unmet in options if not unmet) > 0:
                needs.append(_pareto(options))
                continue
        status = inst.status(members)
        if status == "below" and status in breaks:
            below = _below_options(inst, members, broken.blocked, broken.free)
            if below is not None:
                needs.append(below)
        elif status == "above" and status in breaks:
            needs.append([(_fewest_to_shed(inst, members), 0, 0), (0, 0, 1)])
    return needs


def _pareto(options: Sequence[Option]) -> list[Option]:
    """Return the options no other is at most in every figure."""
    return [
        o
        for o in options
        if not any(p != o and all(a <= b for a, b in zip(p, o, strict=True)) for p in options)
    ]


def _roles_bound(needs: Sequence[Sequence[Option]], left: int) -> int:
    """Return the least, over each need's choice of option, of the larger of own moves and joiners summed."""
    states: dict[tuple[int, int], int] = {(0, 0): 0}  # (unmet, joiners) -> fewest own moves
    for options in needs:
        nxt: dict[tuple[int, int], int] = {}
        for (unmet, conn), own in states.items():
            for o, j, u in options:
                key = (unmet + u, conn + j)
                if key[0] <= left and own + o < nxt.get(key, own + o + 1):
                    nxt[key] = own + o
        states = nxt
    return min((max(own, conn) for (_, conn), own in states.items()), default=0)


def moves_lower_bound(
    inst: Instance,
    *,
    breaks: Sequence[str] = ("below",),
    left: int = 0,
    together: Sequence[tuple[int, int]] = (),
    apart: Sequence[tuple[int, int]] = (),
) -> int:
    """Return a lower bound on the moves of any repair of ``inst`` (practices of existing groups moved).

    Parameters
    ----------
    inst
        The CCG, with its existing groups (``inst.current``).
    breaks
        The band errors the repair mends (``below``, or ``below`` and ``above``).
    left
        How many groups the repair leaves breaking the band (the first stage's value).
    together, apart
        Pairs of practice indices kept together or apart.
    """
    if inst.current is None:
        return 0
    needs = sorted(
        _needs(inst, breaks, together, apart, left), key=lambda n: (n.optional, len(n.witnesses), -n.k)
    )
    counted: set[int] = set()
    bound = 0
    optional = []
    for need in needs:
        gain = max(0, need.k - len(need.witnesses & counted))
        bound += gain
        counted |= need.witnesses
        if need.optional:
            optional.append(need.k)
    # A need left unmet takes off at most its own k (the needs after it only count more without it).
    bound -= sum(sorted(optional, reverse=True)[:left])
    return max(bound, _roles_bound(_role_options(inst, breaks), left))
