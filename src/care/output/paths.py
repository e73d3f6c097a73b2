"""What care may write to: checked before any work starts, so nothing is lost or destroyed.

An output must be a regular file (or not exist yet) in a folder that exists or can be made:
never one of the inputs, a folder, a device, a FIFO or a socket (``/dev/full``, ``/dev/stdin``
and named pipes would take or give data without bound).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from care.errors import OutputError, os_error


def check_output_file(
    path: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    field: str = "--out",
    create: bool = True,
) -> Path:
    """Check that ``path`` may be written as an output file, making its folder if needed
    (with ``create=False`` only checking that it could be made).

    Raises:
        OutputError: The path is an input, a folder, or not a regular file.
        FileSystemError: The folder cannot be made or the path cannot be examined.
    """
    target = Path(path)
    info = _stat(target, field)
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(
                "this is a folder, not a file",
                file=str(target),
                field=field,
                fix="give a file name, e.g. " + str(target / "results.jsonl"),
            )
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(
                "this is a device, pipe or socket, not a regular file",
                file=str(target),
                field=field,
                fix="write results to a regular file",
            )
        for given in inputs:
            if _same_file(target, Path(given)):
                raise OutputError(
                    "the output is one of the inputs; writing to it would destroy them",
                    file=str(target),
                    field=field,
                    fix="give another file name for the output",
                )
    elif target.is_symlink():
        raise OutputError(
            "this is a symbolic link to nothing",
            file=str(target),
            field=field,
            fix="remove the link or give another file name",
        )
    if create:
        make_folder(target.parent, field=field)
    else:
        _check_makeable(target.parent, field)
    return target


def check_output_dir(path: str | Path, *, field: str = "--out-dir", create: bool = True) -> Path:
    """Check that ``path`` is a folder (or can be made one) to write outputs into; it is
    made unless ``create`` is False.

    Raises:
        OutputError: The path exists and is not a folder.
        FileSystemError: It cannot be made or written.
    """
    target = Path(path)
    info = _stat(target, field)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise OutputError(
            "this is a file, not a folder",
            file=str(target),
            field=field,
            fix="give a folder for the outputs (it is made if it does not exist)",
        )
    if not create:
        _check_makeable(target, field)
        return target
    make_folder(target, field=field)
    if not os.access(target, os.W_OK):
        raise OutputError(
            "this folder is not writable",
            file=str(target),
            field=field,
            fix="choose a folder you can write to",
        )
    return target


def make_folder(folder: Path, *, field: str | None = None) -> None:
    """Make ``folder`` (and its parents) if it does not exist, as a one-line error if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            "a part of this path is a file, not a folder",
            file=str(folder),
            field=field,
            fix="choose a path whose folders are folders",
        ) from None
    except OSError as error:
        raise os_error(error, field=field) from None


def _stat(path: Path, field: str | None) -> os.stat_result | None:
    """The path's status, None if it does not exist; other OS errors as one-line errors."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise os_error(error, field=field) from None


def _check_makeable(folder: Path, field: str | None) -> None:
    """The nearest existing ancestor of ``folder`` must be a folder."""
    current = folder
    while True:
        info = _stat(current, field)
        if info is None:
            if current.parent == current:
                return
            current = current.parent
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise OutputError(
                "a part of this path is a file, not a folder",
                file=str(current),
                field=field,
                fix="choose a path whose folders are folders",
            )
        return


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.samefile(second)
    except OSError:
        return False
