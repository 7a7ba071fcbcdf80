"""How the editor refuses: :class:`EditError`, with the HTTP status the web app answers.

:func:`one_line` puts a message on one line, as every refusal and failed verdict is shown.
"""

from __future__ import annotations

from footprint.errors import FootprintError


class EditError(FootprintError, ValueError):
    """A change or request the editor refuses; ``status`` is the HTTP status the web app answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str) -> str:
    """Return ``text`` on one line, at most 500 characters.

    Examples
    --------
    >>> one_line("  no group   U1  here ")
    'no group U1 here'
    """
    return " ".join(str(text).split())[:500]
