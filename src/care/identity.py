"""What identifies a result: the key under which the runner resumes and stores it.

Two results of one session are the same result exactly when they agree on the instrument, the
model and the model's version (for the built-in model the weights' release, for a language
model the prompt version, which covers the mode and the answer format). The runner, the results
file and the run store all key results by ``(session_id, ResultKey)``, so a re-run with a
different model, instrument, cut or prompt is never taken for finished work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ResultKey:
    """The identity of one assessor's results for a session.

    Attributes:
        instrument: Instrument id.
        model: Model name (the cut variant has its own name).
        version: Model version: the weights' release or the prompt version.
    """

    instrument: str
    model: str
    version: str

    def store_fields(self) -> dict[str, str]:
        """The key as the run store's keyword arguments."""
        return {"instrument": self.instrument, "model": self.model, "prompt_version": self.version}

    def as_dict(self) -> dict[str, str]:
        """Plain dictionary (for messages and files)."""
        return asdict(self)

    def describe(self) -> str:
        """One readable phrase, e.g. ``care-lite-en 0.1.0#ab12 on kokorochat-feedback``."""
        return f"{self.model} {self.version} on {self.instrument}"

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> ResultKey:
        """The key of a result record written by ``SessionAssessment.to_record``."""
        return cls(str(record["instrument"]), str(record["model"]), str(record["model_version"]))
