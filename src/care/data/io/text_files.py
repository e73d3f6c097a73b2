"""Read the text of a session file, whatever its compression and encoding.

* gzip files are recognised by their magic bytes (not by their name) and decompressed;
* UTF-8 (with or without a byte-order mark) and UTF-16/UTF-32 with a byte-order mark
  are decoded without being asked;
* anything else that is not valid UTF-8 is a :class:`~care.errors.Problem` that names the
  encoding the bytes look like (a guess by charset-normalizer) and how to fix it;
* an ``encoding`` given by the user is always honoured;
* a file that holds nothing but whitespace is a problem ("the file is empty").

Problems are returned, never raised, so that a validator can report every file.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from pathlib import Path

from care.errors import ParameterError, Problem

__all__ = ["decode_bytes", "read_bytes", "read_text"]

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GUESS_BYTES = 64 * 1024
_UTF16_SAMPLE = 4096


def read_bytes(path: str | Path, *, max_lines: int | None = None) -> bytes:
    """The bytes of ``path``, decompressed when it is gzip.

    With ``max_lines``, reading stops after that many non-blank lines (counted on the
    raw bytes, so only for ASCII-compatible encodings); used to read the head of a large
    JSON Lines file.

    Raises:
        OSError: the file cannot be read.
        EOFError, gzip.BadGzipFile, zlib.error: the gzip data is corrupt or truncated.
    """
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    opener = gzip.open if compressed else open
    with opener(path, "rb") as handle:
        if max_lines is None:
            return handle.read()
        head = handle.read(4)
        if any(head.startswith(bom) for bom, name in _BOMS if name != "utf-8-sig"):
            return head + handle.read()  # UTF-16/32 lines cannot be split on b"\n"
        chunks = [head]
        count = 0
        for line in handle:
            chunks.append(line)
            if line.strip():
                count += 1
                if count >= max_lines + 1:  # +1: the head may hold a partial line
                    break
        return b"".join(chunks)


def decode_bytes(
    data: bytes, *, file: str, encoding: str | None = None
) -> tuple[str | None, list[Problem]]:
    """Decode ``data`` (see the module docstring). Returns the text (None when it cannot be
    decoded or is empty) and the problems found.

    Raises:
        ParameterError: ``encoding`` is not an encoding Python knows.
    """
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ParameterError(
                f"unknown encoding {encoding!r}",
                field="encoding",
                fix="use a Python codec name such as 'utf-8', 'gb18030', 'cp932' or 'latin-1'",
            ) from None
        if encoding.replace("_", "-").lower() in ("utf-8", "utf8") and data.startswith(
            codecs.BOM_UTF8
        ):
            encoding = "utf-8-sig"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as error:
            return None, [
                Problem(
                    f"cannot be decoded as {encoding} (byte 0x{data[error.start]:02x})",
                    file=file,
                    record=_line_of(data, error.start),
                    fix="check the file's encoding and pass the right one with --encoding",
                )
            ]
        return _check_empty(text, file)
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return _check_empty(data.decode(name), file)
            except UnicodeDecodeError as error:
                if name == "utf-8-sig":
                    break  # a UTF-8 BOM before other bytes: report the bytes below
                label = name.upper()
                return None, [
                    Problem(
                        f"the file starts with a {label} byte-order mark but is not valid "
                        f"{label} (byte {error.start})",
                        file=file,
                        fix="save the file again as UTF-8 (or as complete UTF-16 text), or "
                        "pass --encoding",
                    )
                ]
    wide = _utf16_without_bom(data)
    if wide is not None:
        return None, [
            Problem(
                f"the file looks like {wide.upper()} text without a byte-order mark (every "
                "other byte is zero)",
                file=file,
                fix=f"pass --encoding {wide}, or save the file as UTF-8",
            )
        ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        guess = guess_encoding(data)
        looks = f" (looks like {guess})" if guess else ""
        return None, [
            Problem(
                f"not UTF-8 text{looks}",
                file=file,
                record=_line_of(data, error.start),
                fix=f"save the file as UTF-8 or pass --encoding {guess or 'ENCODING'}",
            )
        ]
    return _check_empty(text, file)


def _line_of(data: bytes, offset: int) -> str:
    number = data.count(b"\n", 0, offset) + 1
    return f"line {number}"


def guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's best guess at the encoding of ``data``, or None."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    best = from_bytes(data[:_GUESS_BYTES]).best()
    return None if best is None else best.encoding


def _utf16_without_bom(data: bytes) -> str | None:
    """``"utf-16-le"`` or ``"utf-16-be"`` when ``data`` looks like UTF-16 text without a
    byte-order mark (mostly ASCII, so every other byte is zero), else None."""
    sample = data[:_UTF16_SAMPLE]
    half = len(sample) // 2
    if half < 2 or b"\x00" not in sample:
        return None
    zeros_even, zeros_odd = sample[0::2].count(0), sample[1::2].count(0)
    if zeros_odd >= 0.3 * half and zeros_even <= 0.05 * half:
        return "utf-16-le"
    if zeros_even >= 0.3 * half and zeros_odd <= 0.05 * half:
        return "utf-16-be"
    return None


def _check_empty(text: str, file: str) -> tuple[str | None, list[Problem]]:
    """Refuse text that is empty or holds NUL characters (binary data, or the wrong
    encoding), which no session format has."""
    nul = text.find("\x00")
    if nul != -1:
        return None, [
            Problem(
                "the file holds NUL characters, so it is binary data or in another encoding",
                file=file,
                record=f"line {text.count(chr(10), 0, nul) + 1}",
                fix="check that this is a session file; pass --encoding if it is text in an "
                "encoding other than UTF-8",
            )
        ]
    if not text.strip():
        return None, [
            Problem(
                "the file is empty",
                file=file,
                fix="check that this is the right file; it holds no sessions",
            )
        ]
    return text, []


def read_text(
    path: str | Path,
    *,
    encoding: str | None = None,
    file: str | None = None,
    max_lines: int | None = None,
) -> tuple[str | None, list[Problem]]:
    """Read and decode the text of ``path``.

    Args:
        path: The file (plain or gzip-compressed).
        encoding: Decode with this encoding instead of detecting UTF-8/UTF-16.
        file: How to name the file in problems (default: ``str(path)``).
        max_lines: Read only about the first ``max_lines`` non-blank lines (a few more may
            come); see :func:`read_bytes`.

    Returns:
        The text, or None when the file cannot be read, decoded or is empty, and the
        problems found.
    """
    name = file if file is not None else str(path)
    try:
        data = read_bytes(path, max_lines=max_lines)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        return None, [
            Problem(
                f"the gzip data is corrupt or truncated ({error})",
                file=name,
                fix="download or compress the file again",
            )
        ]
    except IsADirectoryError:
        return None, [Problem("is a directory, not a file", file=name, fix="give a file")]
    except FileNotFoundError:
        return None, [Problem("no such file", file=name, fix="check the path")]
    except OSError as error:
        return None, [
            Problem(
                f"cannot read the file ({error.strerror or error})",
                file=name,
                fix="check the path and its permissions",
            )
        ]
    if data.startswith(ZIP_MAGIC):
        return None, [
            Problem(
                "a ZIP archive (such as an Excel .xlsx file), not a text file",
                file=name,
                fix="export the sheet as CSV (UTF-8), or unpack the archive",
            )
        ]
    return decode_bytes(data, file=name, encoding=encoding)
