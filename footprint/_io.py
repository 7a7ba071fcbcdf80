"""Small file helpers shared by the stages: reading input CSVs as text, atomic writes, the cache."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import pandas as pd

from footprint.errors import DataError

_T = TypeVar("_T")


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


def cache_folder(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache folder: ``cache_dir``, else ``$FOOTPRINT_CACHE_DIR``, else ``~/.cache/footprint``."""
    if cache_dir is None:
        cache_dir = os.environ.get("FOOTPRINT_CACHE_DIR") or Path.home() / ".cache" / "footprint"
    return Path(cache_dir)


def file_key(path: Path, version: str) -> str:
    """Return a cache key naming the file at ``path`` as it is now: its path, size and time."""
    stat = path.stat()
    return hashlib.sha256(
        f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{version}".encode()
    ).hexdigest()[:24]


def pickled(path: Path, build: Callable[[], _T], *, kind: type[_T], what: str, log: logging.Logger) -> _T:
    """Return the ``kind`` pickled at ``path``, else ``build()``'s, pickled there (a cache miss).

    An unreadable or foreign file is rebuilt over, and a cache that cannot be written is
    skipped, each with a warning on ``log``: the cache never stops a command.
    """
    if path.exists():
        try:
            with path.open("rb") as fh:
                cached = pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
            log.warning("ignoring unreadable %s cache %s (%s)", what, path, exc)
        else:
            if isinstance(cached, kind):
                log.info("%s read from cache %s", what, path)
                return cached
    made = build()
    try:
        with atomic_write(path, mode="wb") as fh:
            pickle.dump(made, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        log.warning("could not cache the %s in %s (%s)", what, path, exc)
    return made
