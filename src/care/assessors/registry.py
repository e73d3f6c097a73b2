"""Turning a model name into an assessor: one place for every front-end.

:func:`get_assessor` takes what a user writes after ``--model``:

* nothing, ``"care-lite"`` or ``"builtin"``: the built-in models (chosen per session language);
* a path to a model file from ``care train lite`` (``.npz``);
* ``"provider/model"``: a language model behind a backend (``transformers/...``,
  ``llamacpp/...``, ``openai/...``, ``vllm/...``, or a provider a plugin adds).

Options that belong to the other kind are refused with a message naming the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from care.assessors.base import Assessor
from care.errors import ModelError, ParameterError

#: Names that mean the built-in model.
BUILTIN_NAMES = ("care-lite", "builtin")
#: Options only language models take.
LLM_OPTIONS = (
    "mode",
    "answer_format",
    "max_new_tokens",
    "max_reasks",
    "allow_remote",
    "redact",
    "backend_options",
    "perspective",
    "language",
    "items",
    "max_retries",
    "retry_backoff",
    "scoring",
    "rationales",
)
#: Options only the built-in model takes.
LITE_OPTIONS = ("cut", "evidence_per_direction")


def is_llm_spec(spec: str | None) -> bool:
    """Whether ``spec`` names a language model (``provider/model`` of a known provider)."""
    from care.backends.registry import is_backend_spec

    return is_backend_spec(spec)


def get_assessor(spec: str | Path | None = None, **options: Any) -> Assessor:
    """The assessor ``spec`` names, built with ``options`` (fitted where it needs no data).

    Args:
        spec: None/"care-lite" (built-in), a model file, or ``provider/model``.
        **options: For the built-in model: ``cut``, ``evidence_per_direction``; for a
            language model: the :class:`~care.assessors.llm.LLMAssessor` parameters
            (``instrument``, ``mode``, ``answer_format``, ``backend_options``, ...).
            ``instrument`` is taken by both: the built-in model refuses one it was not
            trained for when it assesses.
            Options left at None are ignored.

    Raises:
        ParameterError: An option of the other kind of model was given.
        ModelError: The model file does not exist.
    """
    given = {name: value for name, value in options.items() if value not in (None, False)}
    text = None if spec is None else str(spec)
    if text is not None and is_llm_spec(text):
        _refuse(given, LITE_OPTIONS, "chooses between the built-in models, not language models")
        from care.assessors.llm import LLMAssessor

        instrument = given.pop("instrument", None)
        return LLMAssessor(text, instrument=instrument, **given).fit(_empty_corpus())
    _refuse(
        given, LLM_OPTIONS, f"is for language models, and --model {text or '(built-in)'} is not one"
    )
    from care.assessors.lite import LiteAssessor

    given.pop("instrument", None)  # checked against the model when sessions are known
    if text is None or text in BUILTIN_NAMES:
        return LiteAssessor(**given)
    path = Path(text)
    if not path.is_file():
        hint = (
            " (a language model is written PROVIDER/MODEL, e.g. llamacpp/smollm2-135m-instruct)"
            if "/" in text and not path.suffix
            else ""
        )
        raise ModelError(
            f"no model file here{hint}",
            file=text,
            field="--model",
            fix="give a model file from `care train lite`, PROVIDER/MODEL for a language "
            "model, or leave --model out for the built-in model",
        )
    return LiteAssessor(model=path, **given)


def _refuse(given: dict[str, Any], names: tuple[str, ...], why: str) -> None:
    for name in names:
        if name in given:
            option = "--" + name.replace("_", "-")
            if name == "backend_options":
                option = "--" + "/--".join(sorted(given[name])).replace("_", "-")
            raise ParameterError(
                f"{option} {why}",
                field=option,
                fix="leave the option out, or choose a --model that takes it "
                "(BACKEND/MODEL for language models)",
            )


def _empty_corpus() -> Any:
    from care.data.corpus import Corpus

    return Corpus([])
