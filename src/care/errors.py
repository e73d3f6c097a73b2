"""Errors raised by care.

Every error a user can cause is a :class:`CareError`. Its one-line message names
where the problem is (file, record or line, field), what is wrong, and how to fix
it, so that the command line can print it without a traceback and exit with code 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in user input.

    Attributes:
        message: What is wrong, e.g. ``"rating 7 is outside the scale 0-5"``.
        file: The file the problem is in, if any.
        record: Where in the file: ``"line 3"``, ``"session 'abc'"``, ``"row 12"``.
        field: The field that is wrong, e.g. ``"turns[4].text"``.
        fix: What the user should do about it.
    """

    message: str
    file: str | None = None
    record: str | None = None
    field: str | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.record) if part)
        text = self.message
        if self.field:
            text = f"field '{self.field}': {text}"
        if where:
            text = f"{where}: {text}"
        if self.fix:
            text = f"{text}. Fix: {self.fix}"
        return one_line(text)


_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every character that could break a line escaped (``\\n``, ``\\x85``),
    so that a message is always one line however odd the input it names."""
    return _LINE_BREAKS.sub(lambda match: repr(match.group())[1:-1], text)


class CareError(Exception):
    """Base class of every error a user of care can cause.

    The CLI prints ``str(error)`` on one line and exits with code 2.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = Problem(message=message, file=file, record=record, field=field, fix=fix)
        super().__init__(str(self.problem))

    @classmethod
    def from_problem(cls, problem: Problem) -> CareError:
        """Build an error of this class from a :class:`Problem`."""
        return cls(
            problem.message,
            file=problem.file,
            record=problem.record,
            field=problem.field,
            fix=problem.fix,
        )


class DataError(CareError):
    """A session file or a record in it is invalid."""

    def __init__(self, message: str, *, problems: list[Problem] | None = None, **where) -> None:
        super().__init__(message, **where)
        self.problems: list[Problem] = problems if problems is not None else [self.problem]

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> DataError:
        """An error for several problems; its message is the first one plus a count."""
        first = problems[0]
        more = len(problems) - 1
        message = first.message if not more else f"{first.message} (and {more} more problems)"
        return cls(
            message,
            problems=list(problems),
            file=first.file,
            record=first.record,
            field=first.field,
            fix=first.fix,
        )


class InstrumentError(CareError):
    """An instrument definition is invalid or an instrument id is unknown."""


class ParameterError(CareError):
    """A parameter given to a care function or command is invalid."""


class ModelError(CareError):
    """A model file is missing, corrupt, or of an incompatible version."""


class NotFittedError(CareError):
    """An assessor was used before it was fitted."""


class MissingDependencyError(CareError):
    """An optional dependency is needed for the requested feature."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the optional package '{package}', which is not installed",
            fix=f"pip install 'care-alliance[{extra}]'",
        )
        self.package = package
        self.extra = extra


class OutputError(CareError):
    """An output cannot be written where it was asked for (or would destroy data there)."""


class FileSystemError(CareError):
    """The operating system refused to read or write a path (missing, read-only, full, ...)."""


_OS_FIXES = {
    "ENOENT": "check the path; create the folder first, or choose a path that exists",
    "ENOTDIR": "a part of the path is a file, not a folder: choose another path",
    "EISDIR": "the path is a folder: give a file name inside it",
    "EACCES": "choose a location you can write to, or change its permissions",
    "EPERM": "choose a location you can write to, or change its permissions",
    "EROFS": "the location is read-only: choose a writable location",
    "ENOSPC": "free some disk space, or write to another disk; re-running resumes",
    "EDQUOT": "free some space in your quota, or write elsewhere; re-running resumes",
    "ELOOP": "the path runs through a loop of symbolic links: fix the links or use a real path",
    "ENAMETOOLONG": "choose a shorter path",
    "EEXIST": "choose another path, or remove the file that is in the way",
    "EBUSY": "the file is in use: try again later, or choose another path",
}


def os_error(error: OSError, *, field: str | None = None) -> CareError:
    """A one-line :class:`CareError` for an operating-system error on a user's path,
    naming the path, the problem and the fix."""
    import errno as errno_module

    code = errno_module.errorcode.get(error.errno or 0, "")
    problem = error.strerror or type(error).__name__
    path = error.filename if error.filename is not None else None
    fix = _OS_FIXES.get(code, "check the path and its permissions")
    return FileSystemError(
        problem[:1].lower() + problem[1:],
        file=None if path is None else str(path),
        field=field,
        fix=fix,
    )


def describe(value: object) -> str:
    """How a message names a value taken from a user's data without echoing its text.

    Error messages must never carry transcript text (a role column that holds utterances,
    a speaker's name, a mistyped key), so text is described by its length; numbers,
    booleans and null are shown as they are, lists and objects by their kind.
    """
    if value is None or isinstance(value, bool | int | float):
        return "null" if value is None else repr(value)
    if isinstance(value, str):
        return "an empty text" if not value.strip() else f"a text of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} value{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__name__}"


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,39}")


def key_name(key: object) -> str:
    """A key from a user's data as a message may show it: itself when it is a plain
    identifier (``lang``, ``item_1``), else ``<key>``, so that a field name never carries
    free text (a transcript line pasted as a key)."""
    return key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else "<key>"
