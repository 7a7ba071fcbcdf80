"""Small file helpers shared by the stages: reading input CSVs as text, atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from footprint.errors import DataError


def read_text_csv(path: str | os.PathLike[str], *, what: str, expect: str) -> pd.DataFrame:
    """Read a CSV with every cell as stripped text and lower-case column names.

    A byte-order mark and Windows line endings are accepted. ``what`` names the file in
    messages ("plan file") and ``expect`` says what it should hold.

    Raises
    ------
    DataError
        If the file is missing, empty or not UTF-8.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        msg = f"{what} {path} does not exist: give the path of {expect}"
        raise DataError(msg) from None
    except pd.errors.EmptyDataError:
        msg = f"{what} {path} is empty: give {expect}"
        raise DataError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8 CSV"
        raise DataError(msg) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip()) if len(frame.columns) else frame


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it into place on success.

    A crash or exception inside the block leaves ``path`` as it was, never half written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding="utf-8" if text else None, newline="" if text else None) as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; honour the umask instead
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
