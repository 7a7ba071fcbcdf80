"""Small helpers for the words footprint prints and draws."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str) -> str:
    """Return ``"1 practice"`` or ``"2 practices"``.

    Examples
    --------
    >>> plural(1, "practice"), plural(3, "practice"), plural(1605, "PCN")
    ('1 practice', '3 practices', '1,605 PCNs')
    """
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
