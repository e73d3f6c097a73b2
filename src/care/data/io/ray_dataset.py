"""Session inputs as a Ray Dataset, read lazily (for ``care assess --engine ray``).

:func:`session_dataset` turns the planned inputs (:func:`~care.data.io.stream.plan_sources`)
into one dataset whose rows carry each session's raw text and where it is:

* JSON Lines files are streamed by a datasource of this module, a few hundred lines per
  block: a row is ``{"file", "line", "text"}``, one session's line. A file of any size is
  read in bounded memory (Ray's ``read_text`` would read each file whole), and lines are
  split on ``\\n`` only, as care's own reader does;
* Parquet session files are streamed by the same datasource a row group at a time: a row is
  ``{"file", "line", "text"}`` with the session's columns as JSON text;
* files of other formats become one row each, ``{"file", "line": 0, "text": ""}``, and are
  parsed whole by the worker that takes them.

:func:`sessions_of_rows` turns rows of any of these back into sessions (with problems), with
the same parsers as :func:`~care.data.io.stream.iter_sessions`, so both engines read a
session identically.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from care.data.io.stream import SessionSource, parse_session_line
from care.data.session import Session
from care.errors import MissingDependencyError, Problem

LINES_PER_BLOCK = 256
CHUNK_BYTES = 1 << 20
ROW_COLUMNS = ("file", "line", "text")
READ_CPUS = 0
"""CPUs reserved per read task: none, since reading is light next to assessing and the
actors hold a whole CPU each (a read task waiting for a CPU would stall the run; for the
same reason Parquet is not read with ``ray.data.read_parquet``, whose file listing task
needs a CPU)."""


def ray_module() -> Any:
    """The ``ray`` module with Ray Data, or a :class:`MissingDependencyError`."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise MissingDependencyError("ray", "ray", "--engine ray") from error
    return ray


def _chunks(stream: Any) -> Iterator[bytes]:
    """The bytes of a pyarrow input stream, gunzipped when they are gzip (by content)."""
    first = stream.read(CHUNK_BYTES)
    if not first:
        return
    if first[:2] != b"\x1f\x8b":
        yield first
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
        return
    decompressor = zlib.decompressobj(wbits=31)
    data = first
    while True:
        while data:
            yield decompressor.decompress(data)
            if decompressor.eof:  # a file of several gzip members
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(wbits=31)
            else:
                data = b""
        data = stream.read(CHUNK_BYTES)
        if not data:
            yield decompressor.flush()
            return


def stream_lines(stream: Any) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of each non-blank line, split on ``\\n`` only."""
    number = 0
    rest = b""
    for chunk in _chunks(stream):
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            number += 1
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.strip():
                yield number, line.rstrip(b"\r")
    if rest.strip():
        yield number + 1, rest.rstrip(b"\r")


def _parquet_rows(path: str, name: str) -> Iterator[Any]:
    """Blocks of a Parquet session file's rows, a row group at a time, each row as JSON text
    (maps as lists of pairs) in the ``text`` column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=LINES_PER_BLOCK):
        rows = batch.to_pylist()
        numbers = list(range(number + 1, number + len(rows) + 1))
        number += len(rows)
        texts = [json.dumps(row, ensure_ascii=False) for row in rows]
        yield pa.table({"file": [name] * len(rows), "line": numbers, "text": texts})


def _datasource_class() -> Any:
    from ray.data.datasource import FileBasedDatasource

    class SessionRowsDatasource(FileBasedDatasource):
        """Session files streamed a few hundred sessions per block, by how each is read:
        JSON Lines by line, Parquet by row group (read from the path, which Parquet needs to
        seek in), other formats as one row naming the file."""

        def __init__(
            self, paths: list[str], files: dict[str, tuple[str, str]], **options: Any
        ) -> None:
            super().__init__(paths, **options)
            self.files = files  # absolute path -> (how it is read, the name the user gave)

        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            import pyarrow as pa

            mode, name = self.files.get(path) or self.files[_plain_path(path)]
            if mode == "parquet":
                yield from _parquet_rows(_plain_path(path), name)
                return
            if mode == "file":
                yield pa.table({"file": [name], "line": [0], "text": [""]})
                return
            files: list[str] = []
            numbers: list[int] = []
            texts: list[str] = []
            for number, line in stream_lines(f):
                files.append(name)
                numbers.append(number)
                # Invalid UTF-8 is kept as replacement characters here and reported by the
                # parser as the record's problem, not as a failure of the whole read.
                texts.append(line.decode("utf-8", errors="replace"))
                if len(texts) >= LINES_PER_BLOCK:
                    yield pa.table({"file": files, "line": numbers, "text": texts})
                    files, numbers, texts = [], [], []
            if texts:
                yield pa.table({"file": files, "line": numbers, "text": texts})

    return SessionRowsDatasource


def _plain_path(path: str) -> str:
    """A path as care names it (Ray may hand it over as a ``file://`` URI or absolute)."""
    return path.removeprefix("file://")


def session_dataset(sources: Sequence[SessionSource]) -> Any:
    """One lazy Ray Dataset over every input, in input order (see the module docstring).

    One read operator covers every file (the outputs of a union of datasets are not kept in
    order), and its tasks reserve no CPU: the actors that assess may hold every CPU of a
    small cluster, and a read task waiting for one would stall the run."""
    ray = ray_module()
    names = [str(Path(source.path).absolute()) for source in sources]
    files = {
        name: (source.mode, str(source.path)) for name, source in zip(names, sources, strict=True)
    }
    datasource = _datasource_class()(names, files=files, open_stream_args={"compression": None})
    return ray.data.read_datasource(datasource, num_cpus=READ_CPUS)


def sessions_of_rows(
    rows: list[dict[str, Any]],
    sources: dict[str, SessionSource],
    *,
    language: str | None = None,
    encoding: str | None = None,
    merge_consecutive: bool = False,
    options: dict[str, Any] | None = None,
) -> Iterator[tuple[Session | None, list[Problem]]]:
    """The sessions (with their problems) of rows of :func:`session_dataset`."""
    from care.data.io import _options_of, _read_file
    from care.data.io.parquet import session_from_row
    from care.data.session import merge_consecutive_turns

    options = options or {}
    for row in rows:
        source = sources[row["file"]]
        if source.mode == "parquet":
            where = f"row {row['line']}"
            found = [session_from_row(json.loads(row["text"]), file=row["file"], where=where)]
        else:
            accepted = _options_of(source.format)
            chosen = {key: value for key, value in options.items() if key in accepted}
            if source.mode == "lines":
                chosen.pop("limit", None)
                found = [
                    parse_session_line(
                        row["text"],
                        format=source.format,
                        file=row["file"],
                        line_number=int(row["line"]),
                        language=language,
                        **chosen,
                    )
                ]
            else:
                located, problems = _read_file(
                    Path(row["file"]), source.format, language, encoding, chosen
                )
                found = [(session, []) for session, _ in located]
                if problems:
                    found.insert(0, (None, problems))
        for session, problems in found:
            if session is not None and merge_consecutive:
                session = merge_consecutive_turns(session)
            yield session, problems
