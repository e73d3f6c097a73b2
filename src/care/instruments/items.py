"""The parts of an instrument: its :class:`Scale` and :class:`Item` definitions, and the
checks every part of a definition shares (ids, texts, numbers)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from care.errors import InstrumentError, ParameterError

__all__ = [
    "BLANK",
    "COUNSELOR_NAMES",
    "DEFAULT_LANGUAGE",
    "RATERS",
    "Item",
    "Rater",
    "Scale",
    "primary_language",
]

Rater = Literal["client", "counselor", "observer"]
RATERS: tuple[str, ...] = get_args(Rater)

BLANK = "___"
"""The placeholder that stands for the counselor in item texts (as on the WAI-SR forms)."""

DEFAULT_LANGUAGE = "en"
"""The language item texts and labels fall back to (see
:meth:`~care.instruments.Instrument.resolve_language`)."""

COUNSELOR_NAMES: dict[str, str] = {"en": "the counselor", "zh": "咨询师"}
"""The default filler of the ``___`` blank, per language (English for other languages)."""

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ID_RULE = "letters, digits, '_', '.' or '-', starting with a letter or digit"


def _fail(message: str, field: str | None, fix: str | None = None) -> InstrumentError:
    return InstrumentError(message, field=field, fix=fix)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_id(value: object, field: str, what: str) -> None:
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise _fail(
            f"{what} must be a non-empty string of {_ID_RULE}; got {value!r}",
            field,
            f"rename it, e.g. 'item1'{' (quote it in YAML)' if not isinstance(value, str) else ''}",
        )


def _check_text(value: object, field: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{what} must be a non-empty string; got {value!r}", field)


def primary_language(language: str) -> str:
    """The primary subtag of a language code: ``"zh-CN"`` and ``"zh_Hans"`` give ``"zh"``."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()


@dataclass(frozen=True)
class Scale:
    """A rating scale: the integer points ``min..max`` and their labels per language.

    Attributes:
        min: The lowest point, e.g. ``1``.
        max: The highest point, e.g. ``5``; must be greater than ``min``.
        labels: Language code to one label per point, lowest first, e.g.
            ``{"en": ("Seldom", "Sometimes", "Fairly often", "Very often", "Always")}``.
            May be empty for a purely numeric scale (such as 0-100).

    Raises:
        InstrumentError: If ``min``/``max`` are not integers with ``min < max`` or a
            language has the wrong number of labels.
    """

    min: int
    max: int
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("min", "max"):
            value = getattr(self, name)
            if not _is_int(value):
                raise _fail(
                    f"the scale's {name} must be an integer; got {value!r}",
                    name,
                    "write a whole number such as 1 or 5",
                )
        if self.min >= self.max:
            raise _fail(
                f"the scale's min ({self.min}) must be less than its max ({self.max})",
                "max",
                "set min to the lowest point and max to the highest, e.g. min: 1, max: 5",
            )
        if not isinstance(self.labels, Mapping):
            raise _fail(
                f"labels must map a language code to a list of labels; got {self.labels!r}",
                "labels",
            )
        labels: dict[str, tuple[str, ...]] = {}
        for language, values in self.labels.items():
            if not isinstance(language, str) or not language.strip():
                raise _fail(
                    f"a label language must be a language code string; got {language!r}",
                    "labels",
                    "use codes such as 'en' or 'zh' (quote them in YAML)",
                )
            if isinstance(values, str) or not isinstance(values, Sequence):
                raise _fail(
                    f"labels must be a list of strings; got {values!r}",
                    f"labels.{language}",
                )
            values = tuple(values)
            for index, label in enumerate(values):
                _check_text(label, f"labels.{language}[{index}]", "a label")
            if len(values) != self.n_points:
                raise _fail(
                    f"{len(values)} labels for a {self.min}-{self.max} scale, "
                    f"which has {self.n_points} points",
                    f"labels.{language}",
                    f"give exactly {self.n_points} labels, one per point from {self.min} "
                    f"to {self.max}",
                )
            labels[language] = values
        object.__setattr__(self, "labels", labels)

    def __hash__(self) -> int:
        return hash((self.min, self.max, tuple(sorted(self.labels.items()))))

    @property
    def n_points(self) -> int:
        """How many points the scale has (``max - min + 1``)."""
        return self.max - self.min + 1

    @property
    def values(self) -> tuple[int, ...]:
        """The points of the scale, lowest first."""
        return tuple(range(self.min, self.max + 1))

    def check(self, value: object) -> str | None:
        """None if ``value`` is a valid rating on this scale, else what is wrong with it.

        Any real number within ``[min, max]`` is valid (expected values need not be whole).
        """
        if not _is_number(value):
            return f"rating {value!r} is not a number"
        assert isinstance(value, int | float)
        if math.isnan(value):
            return "rating is NaN (leave an item out instead of rating it NaN)"
        if not self.min <= value <= self.max:
            return f"rating {value!r} is outside the scale {self.min}-{self.max}"
        return None

    def reverse(self, value: float) -> float:
        """The reversed rating ``min + max - value`` (e.g. 2 on a 1-5 scale gives 4)."""
        return self.min + self.max - value

    def labels_for(self, language: str = DEFAULT_LANGUAGE) -> tuple[str, ...]:
        """The labels in ``language``, falling back like item texts do.

        The rule: ``language`` itself, then its primary subtag (``"zh-CN"`` -> ``"zh"``),
        then English, then the first language given. A scale without labels gives the
        points as strings (``"0"``, ``"1"``, ...).
        """
        for candidate in (language, primary_language(language), DEFAULT_LANGUAGE):
            if candidate in self.labels:
                return self.labels[candidate]
        if self.labels:
            return next(iter(self.labels.values()))
        return tuple(str(value) for value in self.values)

    def label(self, value: int, language: str = DEFAULT_LANGUAGE) -> str:
        """The label of one point, e.g. ``label(1) == "Seldom"`` on the WAI-SR scale."""
        if not _is_int(value) or not self.min <= value <= self.max:
            raise ParameterError(
                f"{value!r} is not a point of the scale {self.min}-{self.max}",
                field="value",
                fix=f"give a whole number from {self.min} to {self.max}",
            )
        return self.labels_for(language)[value - self.min]


@dataclass(frozen=True)
class Item:
    """One questionnaire item.

    Attributes:
        id: A stable id, used as the key of ratings (e.g. ``"item4"``,
            ``"felt_heard_and_understood"``).
        number: The item's number on the printed form (1-based).
        text: Language code to the item's text. ``___`` stands for the counselor and is
            filled in by :meth:`Instrument.item_text`.
        dimension: The dimension (subscale) the item belongs to, or None.
        reverse_keyed: Whether a high rating means a weak alliance (reversed when scoring).
        scale: A scale of the item's own, overriding the instrument's (e.g. a 0-100
            overall score); None to use the instrument's scale.
    """

    id: str
    number: int
    text: dict[str, str]
    dimension: str | None = None
    reverse_keyed: bool = False
    scale: Scale | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "id", "an item id")
        if not _is_int(self.number) or self.number < 1:
            raise _fail(
                f"item '{self.id}': number must be a positive integer; got {self.number!r}",
                "number",
                "number items 1, 2, 3, ... as on the printed form",
            )
        if not isinstance(self.text, Mapping) or not self.text:
            raise _fail(
                f"item '{self.id}': text must map language codes to the item's text; "
                f"got {self.text!r}",
                "text",
                "write e.g. text: {en: 'I felt understood.'}",
            )
        text: dict[str, str] = {}
        for language, value in self.text.items():
            if not isinstance(language, str) or not language.strip():
                raise _fail(
                    f"item '{self.id}': a text language must be a language code string; "
                    f"got {language!r}",
                    "text",
                    "use codes such as 'en' or 'zh' (quote them in YAML)",
                )
            _check_text(value, f"text.{language}", f"item '{self.id}': the {language} text")
            text[language] = value
        object.__setattr__(self, "text", text)
        if self.dimension is not None:
            _check_id(self.dimension, "dimension", f"item '{self.id}': the dimension")
        if not isinstance(self.reverse_keyed, bool):
            raise _fail(
                f"item '{self.id}': reverse_keyed must be true or false; "
                f"got {self.reverse_keyed!r}",
                "reverse_keyed",
            )
        if self.scale is not None and not isinstance(self.scale, Scale):
            raise _fail(
                f"item '{self.id}': scale must be a Scale or None; got {self.scale!r}", "scale"
            )

    def __hash__(self) -> int:
        return hash((self.id, self.number, tuple(sorted(self.text.items())), self.dimension))
