"""The lock that keeps two care runs from writing one output at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from care.errors import OutputError, os_error


def take_output_lock(lock_path: Path, output: Path, field: str, noun: str, kind: str) -> Any:
    """A held :class:`filelock.FileLock` on ``lock_path`` for ``output``.

    Raises:
        OutputError: Another run holds it ("{noun} is in use"), or it cannot be made.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputError(
            f"{noun} is in use by another care run",
            file=str(output),
            field=field,
            fix=f"wait for that run to finish, or write to another {kind}",
        ) from None
    except OSError as error:
        raise os_error(error, field=field) from None
    return lock
