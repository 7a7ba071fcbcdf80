"""The connected groups of a few units, enumerated once each as bit masks, within a budget.

The warm start weighs every grouping of a CCG of a few free units, and the solver finds
the least compactness of a tiny CCG, by enumerating the connected groups of units that
hold a given unit (:func:`connected_groups`); a :class:`Budget` stops an enumeration that
grows too large (:class:`OverBudgetError`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Budget", "OverBudgetError", "connected_groups", "every_group"]


class OverBudgetError(Exception):
    """An enumeration weighed more groups than its budget."""


@dataclass
class Budget:
    """Groups an enumeration may still weigh: :meth:`spend` raises :class:`OverBudgetError` past them."""

    left: int

    def spend(self) -> None:
        """Count one group weighed."""
        self.left -= 1
        if self.left < 0:
            raise OverBudgetError


def connected_groups(
    first: int,
    free: int,
    near: Sequence[int],
    sizes: Sequence[int],
    budget: Budget,
    *,
    most: float = math.inf,
) -> Iterator[tuple[int, int]]:
    """Yield each connected group of the ``free`` units holding ``first``, once, as (bit mask, list size).

    Units are bits ``0 .. len(near) - 1``; ``near[v]`` is the mask of ``v``'s neighbours.
    A group is grown by each frontier unit in turn (lowest bit first), barring those
    before it, so each comes once. A group over ``most`` patients is dropped with every
    group grown from it (they are larger still). Each group yielded spends one of ``budget``.
    """
    stack = [(1 << first, near[first] & free & ~(1 << first), 1 << first, sizes[first])]
    while stack:
        mask, frontier, barred, total = stack.pop()
        if total > most:
            continue
        budget.spend()
        yield mask, total
        while frontier:
            low = frontier & -frontier
            frontier &= ~low
            barred |= low
            v = low.bit_length() - 1
            grown = mask | low
            stack.append((grown, (frontier | near[v]) & free & ~grown & ~barred, barred, total + sizes[v]))


def every_group(
    near: Sequence[int], sizes: Sequence[int], budget: Budget, *, most: float = math.inf
) -> Iterator[tuple[int, int]]:
    """Yield every connected group of the units ``0 .. len(near) - 1``, once, as (bit mask, list size).

    Each group comes from its lowest unit (:func:`connected_groups` of that unit among
    those after it); groups over ``most`` patients are dropped, and each group yielded
    spends one of ``budget``.
    """
    every = (1 << len(near)) - 1
    for first in range(len(near)):
        yield from connected_groups(first, every & ~((1 << first) - 1), near, sizes, budget, most=most)
