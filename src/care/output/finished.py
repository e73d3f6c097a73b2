"""What a results output already holds, by session: the one rule of resuming (a session is
done when the output holds its result under the same :class:`~care.identity.ResultKey`; a
result under another key is refused, never mixed in)."""

from __future__ import annotations

from pathlib import Path

from care.errors import OutputError
from care.identity import ResultKey


class FinishedResults:
    """Session id to the key of its result in an output (a file or a Parquet folder).

    Args:
        path: The output, named in errors.
        field: The option that named it (``--out``).
        noun: How the output is called in messages (``"this file"``).
        kind: What it is (``"file"``, ``"output"``).
    """

    def __init__(self, path: Path, field: str, noun: str, kind: str) -> None:
        self.path = path
        self.field = field
        self.noun = noun
        self.kind = kind
        self._keys: dict[str, ResultKey] = {}
        self._distinct: dict[ResultKey, ResultKey] = {}  # a run's results share one key

    def add(self, session_id: str, key: ResultKey) -> None:
        """Note that the output now holds ``session_id``'s result under ``key``."""
        self._keys[session_id] = self._distinct.setdefault(key, key)

    def as_dict(self) -> dict[str, ResultKey]:
        """A copy: session id to the key of its result."""
        return dict(self._keys)

    def is_finished(self, session_id: str, key: ResultKey) -> bool:
        """Whether the output holds this session's result under ``key``.

        Raises:
            OutputError: The output holds the session's result under another key.
        """
        found = self._keys.get(session_id)
        if found is None:
            return False
        if found != key:
            raise OutputError(
                f"session '{session_id}' is already in {self.noun} as a result of "
                f"{found.describe()}, and this run makes {key.describe()}; one {self.kind} holds "
                "one result per session",
                file=str(self.path),
                field=self.field,
                fix=f"write this run to another {self.kind}, or pass --overwrite to start afresh",
            )
        return True
