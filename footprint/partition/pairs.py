"""Pairs of practices a planner keeps apart or together, and locks no valid plan can honour.

The pairs are checked once, at the public boundary (:func:`pair_builders`), and become
extra model builders (:func:`footprint.partition.model.add_apart`,
:func:`~footprint.partition.model.add_together`) for the plan and the repair alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial

import networkx as nx

from footprint.errors import DataError, PlanError
from footprint.partition._instance import Instance
from footprint.partition.model import Builder, add_apart, add_together, pair_indices
from footprint.places import display_name

__all__ = ["check_locks", "check_pairs", "pair_builders"]

Pair = tuple[str, str]


def _name(graph: nx.Graph, code: str) -> str:
    name = str(graph.nodes[code].get("practice_name") or "").strip()
    return f"{display_name(name)} ({code})" if name else code


def check_pairs(
    graph: nx.Graph,
    apart: Iterable[Pair],
    together: Iterable[Pair],
    *,
    allow_cross: Mapping[str, str] | None = None,
) -> tuple[list[Pair], list[Pair]]:
    """Return the pairs, each sorted, after checking they can be honoured at all.

    Raises
    ------
    DataError
        If a pair names a practice not in the graph, or is both apart and together.
    PlanError
        If a pair to keep together lies in two CCGs (a PCN may not cross its CCG).
    """
    allow_cross = allow_cross or {}
    pairs = {
        "apart": sorted({tuple(sorted((a.upper(), b.upper()))) for a, b in apart}),
        "together": sorted({tuple(sorted((a.upper(), b.upper()))) for a, b in together}),
    }
    for what, found in pairs.items():
        unknown = sorted({c for pair in found for c in pair if c not in graph})
        if unknown:
            msg = (
                f"pairs to keep {what} name practice(s) not in the practices file: {', '.join(unknown[:10])}"
            )
            raise DataError(msg)
    both = sorted(set(pairs["apart"]) & set(pairs["together"]))
    if both:
        which = ", ".join(f"{a}-{b}" for a, b in both[:10])
        msg = f"pair(s) {which} are to be kept both apart and together: drop one of the two rows"
        raise DataError(msg)
    for a, b in pairs["together"]:
        ccg_a = allow_cross.get(a, graph.nodes[a]["ccg_code"])
        ccg_b = allow_cross.get(b, graph.nodes[b]["ccg_code"])
        if ccg_a != ccg_b:
            msg = (
                f"{_name(graph, a)} (CCG {ccg_a}) and {_name(graph, b)} (CCG {ccg_b}) are to be kept "
                "together, but a PCN may not cross its CCG: drop the pair or let one join the other's CCG "
                "(allow-cross file)"
            )
            raise PlanError(msg)
    return pairs["apart"], pairs["together"]  # type: ignore[return-value]


def check_locks(inst: Instance, apart: Sequence[Pair] = (), together: Sequence[Pair] = ()) -> None:
    """Refuse a locked group no valid plan can honour, naming the group and why.

    Raises
    ------
    PlanError
        If a locked group holds a practice over the band with others (it must stand
        alone), splits a building while buildings are kept together, holds both practices
        of a pair kept apart, or holds one practice of a pair kept together but not the other.
    """
    apart_idx, together_idx = pair_indices(inst, apart), pair_indices(inst, together)
    for k, group in enumerate(inst.locked):
        pcn = inst.locked_ids[k] if k < len(inst.locked_ids) else f"#{k + 1}"
        members = set(group)
        why = None
        big = [i for i in group if inst.big[i]]
        if big and len(group) > 1:
            i = big[0]
            why = (
                f"it holds {inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,} patients), which is over "
                f"{inst.rules.band.high:,} and must stand alone unless big practices may merge "
                "(big_may_merge)"
            )
        split = [s for s in inst.sites if 0 < len(members & set(s)) < len(s)]
        if why is None and inst.rules.keep_sites and split:
            out = [inst.codes[i] for i in split[0] if i not in members]
            why = (
                f"it splits a building (leaves out {', '.join(out)}) while buildings are kept together "
                "(keep_sites)"
            )
        clash = next(((i, j) for i, j in apart_idx if i in members and j in members), None)
        if why is None and clash is not None:
            why = f"it holds both {inst.codes[clash[0]]} and {inst.codes[clash[1]]}, a pair to keep apart"
        half = next(((i, j) for i, j in together_idx if (i in members) != (j in members)), None)
        if why is None and half is not None:
            inside, outside = (half[0], half[1]) if half[0] in members else (half[1], half[0])
            why = (
                f"it holds {inst.codes[inside]} but not {inst.codes[outside]}, a pair to keep together, "
                "and a locked group takes no joiners"
            )
        if why is not None:
            msg = f"locked group {pcn} of CCG {inst.ccg} cannot be honoured by any valid plan: {why}"
            raise PlanError(msg)


def pair_builders(
    graph: nx.Graph,
    instances: Sequence[Instance],
    *,
    apart: Iterable[Pair] = (),
    together: Iterable[Pair] = (),
    allow_cross: Mapping[str, str] | None = None,
) -> list[Builder]:
    """Check the pairs and the locks of ``instances``; return the builders that keep the pairs.

    Raises
    ------
    DataError, PlanError
        See :func:`check_pairs` and :func:`check_locks`.
    """
    apart_pairs, together_pairs = check_pairs(graph, apart, together, allow_cross=allow_cross)
    for inst in instances:
        check_locks(inst, apart_pairs, together_pairs)
    builders: list[Builder] = []
    if apart_pairs:
        builders.append(partial(add_apart, pairs=tuple(apart_pairs)))
    if together_pairs:
        builders.append(partial(add_together, pairs=tuple(together_pairs)))
    return builders
