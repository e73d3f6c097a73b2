"""Parse JSON from session files within limits every later step can handle.

:func:`json.loads` takes some documents that crash care later, or crashes itself:

* an integer of thousands of digits raises ``ValueError`` (Python's limit on converting
  long digit strings), and one of a few hundred cannot become a float rating;
* nesting a few thousand levels deep raises ``RecursionError``, and a few hundred levels
  break code that walks the value;
* an escaped lone surrogate (``"\\ud800"``) becomes a string that cannot be written as
  UTF-8, so writing results or converting the file fails long after the file was read.

:func:`loads` refuses all of these when the file is read, with a :class:`JSONInputError`
that says what is wrong, where (the column, or the field inside the record) and how to fix
it; :func:`json_problem` turns it into a :class:`~care.errors.Problem` for a file and record.
"""

from __future__ import annotations

import json
import re
from typing import Any

from care.errors import Problem, key_name

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "JSONInputError", "json_problem", "loads"]

MAX_DEPTH = 64
"""The deepest nesting of objects and arrays care reads (a session record needs 4)."""
MAX_INT_DIGITS = 300
"""The most digits an integer may have (a float holds at most about 308)."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONG_NUMBER = re.compile(rf"-?\d{{{MAX_INT_DIGITS + 1},}}")


class JSONInputError(ValueError):
    """A JSON text care does not read.

    Attributes:
        message: What is wrong, without any of the text itself.
        field: Where inside the value (``"turns[2].text"``), when known.
        fix: What to do about it.
        line: The line of the text the problem is on (1 for a one-line record).
        limit: True when the text is valid JSON beyond care's limits, False when it is
            not valid JSON.
    """

    def __init__(
        self,
        message: str,
        *,
        fix: str,
        field: str | None = None,
        line: int = 1,
        limit: bool = True,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message
        self.field = field
        self.fix = fix
        self.line = line


class _TooLarge(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


def _parse_int(digits: str) -> int:
    if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
        raise _TooLarge("integer")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _TooLarge("number")
    return value


def loads(text: str) -> Any:
    """Parse one JSON document, refusing what care cannot handle (see the module docstring).

    Raises:
        JSONInputError: The text is not valid JSON, or is beyond care's limits.
    """
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as error:
        raise JSONInputError(
            f"invalid JSON ({error.msg.removesuffix(' at')} at column {error.colno})",
            line=error.lineno,
            fix="repair the JSON (was the file truncated?)",
            limit=False,
        ) from None
    except _TooLarge as error:
        raise _number_error(text, error.kind) from None
    except RecursionError:
        raise _depth_error(text) from None
    _check_value(value, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def json_problem(error: JSONInputError, *, file: str, record: str | None) -> Problem:
    """The :class:`~care.errors.Problem` for ``error`` in ``record`` of ``file``."""
    return Problem(error.message, file=file, record=record, field=error.field, fix=error.fix)


def _where(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _number_error(text: str, kind: str) -> JSONInputError:
    match = _LONG_NUMBER.search(text) if kind == "integer" else None
    if match is None:
        return JSONInputError(
            "a number is too large to be a rating or a count (it overflows a float)",
            fix="correct the number; care reads numbers up to about 1e308",
        )
    line, column = _where(text, match.start())
    digits = len(match.group().lstrip("-"))
    return JSONInputError(
        f"a number of {digits} digits at column {column} is too large (care reads integers of "
        f"up to {MAX_INT_DIGITS} digits)",
        line=line,
        fix="correct the number, or write it as a string if it is an identifier",
    )


def _depth_error(text: str) -> JSONInputError:
    """The error for text nested deeper than :data:`MAX_DEPTH`, naming where it gets too deep."""
    depth = 0
    in_string = escaped = False
    offset = 0
    for offset, char in enumerate(text):  # noqa: B007 - offset is used after the loop
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    line, column = _where(text, offset)
    return _too_deep(None, line=line, column=column)


def _too_deep(field: str | None, *, line: int = 1, column: int | None = None) -> JSONInputError:
    at = f" at column {column}" if column is not None else ""
    return JSONInputError(
        f"the JSON is nested more than {MAX_DEPTH} levels deep{at}",
        field=field,
        line=line,
        fix=f"flatten the value (session meta may nest at most {MAX_DEPTH - 4} levels)",
    )


def _field(path: tuple[str | int, ...]) -> str | None:
    shown = path if len(path) <= 4 else (*path[:3], "...")
    text = ""
    for part in shown:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or None


def _check_value(value: Any, *, strings: bool) -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH` and (when ``strings``) lone surrogates."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise _surrogate_error(path)
            continue
        if len(path) >= MAX_DEPTH:
            raise _too_deep(_field(path))
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                if strings and _SURROGATE.search(key):
                    raise _surrogate_error(path)
                if isinstance(child, dict | list) or (strings and isinstance(child, str)):
                    children.append((child, (*path, key_name(key))))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                (child, (*path, index))
                for index, child in reversed(list(enumerate(item)))
                if isinstance(child, dict | list) or (strings and isinstance(child, str))
            )


def _surrogate_error(path: tuple[str | int, ...]) -> JSONInputError:
    return JSONInputError(
        "the text holds an escaped lone surrogate (\\ud800-\\udfff), which is not a character "
        "and cannot be written back as UTF-8",
        field=_field(path),
        fix="repair the text where it was exported (a surrogate must be followed by its pair), "
        "or remove the broken character",
    )
