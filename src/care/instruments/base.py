"""Instruments as data: frozen :class:`Scale`, :class:`Item` and :class:`Instrument`.

An instrument is a questionnaire used to rate the working alliance of a session (the
WAI-SR, its counselor form, the observer short form WAI-O-S, KokoroChat's client feedback
form, or a user's own). It is pure data: a new questionnaire is a new YAML or JSON file
(see :mod:`care.instruments.loader`), never new code.

Scoring rules, used everywhere in care:

* A rating is any real number within the item's scale (``min <= value <= max``); assessors
  may produce non-integer expected values. ``None`` and NaN mean "not rated".
* Reverse-keyed items are reversed before any averaging: ``min + max - value``, so a
  higher score always means a stronger alliance.
* A dimension score is the mean of its items. By default every item of the dimension must
  be rated, otherwise the score is NaN; ``min_items=k`` accepts the mean of the rated items
  when at least ``k`` are rated.
* The total score is the mean of all items on the instrument's main scale (items with their
  own scale, such as KokoroChat's 0-100 overall score, are left out), with the same rule
  for missing items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from care.errors import InstrumentError, ParameterError

Rater = Literal["client", "counselor", "observer"]
RATERS: tuple[str, ...] = get_args(Rater)

BLANK = "___"
"""The placeholder that stands for the counselor in item texts (as on the WAI-SR forms)."""

DEFAULT_LANGUAGE = "en"
"""The language item texts and labels fall back to (see :meth:`Instrument.resolve_language`)."""

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


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: items, a scale, and a key of dimensions.

    Attributes:
        id: Short id, e.g. ``"wai-sr-client"``.
        name: Human-readable name.
        description: What it measures, who rates it, and any caveats.
        items: The items, in form order.
        scale: The instrument's (main) scale; items may override it.
        dimensions: Dimension id to the ids of its items, e.g. ``{"goal": ("item4", ...)}``.
            Derived from the items' ``dimension`` when empty; otherwise it must agree with
            them. Every item of a dimension must use the main scale.
        languages: The languages every item has a text in, e.g. ``("en", "zh")``; derived
            (those all items share) when empty.
        rater: Who fills it in: ``"client"``, ``"counselor"`` or ``"observer"``.
        citation: The publication to cite.
        source: Where the item wording comes from, and any uncertainty about it.

    Raises:
        InstrumentError: If the definition is invalid (duplicate item ids or numbers, a
            dimension naming a missing item, a text missing for a language, ...). The
            error's ``problem.field`` names the field, e.g. ``"items[3].id"``.
    """

    id: str
    name: str
    description: str
    items: tuple[Item, ...]
    scale: Scale
    dimensions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    rater: Rater = "client"
    citation: str = ""
    source: str = ""
    _index: dict[str, Item] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        _check_id(self.id, "id", "the instrument id")
        _check_text(self.name, "name", "the instrument name")
        for name in ("description", "citation", "source"):
            if not isinstance(getattr(self, name), str):
                raise _fail(f"{name} must be a string; got {getattr(self, name)!r}", name)
        if self.rater not in RATERS:
            raise _fail(
                f"rater must be one of {', '.join(RATERS)}; got {self.rater!r}",
                "rater",
                "set rater to who fills in the questionnaire",
            )
        if not isinstance(self.scale, Scale):
            raise _fail(f"scale must be a Scale; got {self.scale!r}", "scale")
        items = self._check_items()
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "languages", self._check_languages(items))
        object.__setattr__(self, "dimensions", self._check_dimensions(items))
        object.__setattr__(self, "_index", {item.id: item for item in items})

    # -- validation -------------------------------------------------------------------

    def _check_items(self) -> tuple[Item, ...]:
        if isinstance(self.items, str | bytes) or not isinstance(self.items, Sequence):
            raise _fail(f"items must be a list of items; got {self.items!r}", "items")
        items = tuple(self.items)
        if not items:
            raise _fail("the instrument has no items", "items", "add at least one item")
        seen_ids: dict[str, int] = {}
        seen_numbers: dict[int, int] = {}
        for position, item in enumerate(items):
            if not isinstance(item, Item):
                raise _fail(f"not an Item: {item!r}", f"items[{position}]")
            if item.id in seen_ids:
                raise _fail(
                    f"duplicate item id '{item.id}' (also items[{seen_ids[item.id]}])",
                    f"items[{position}].id",
                    "give every item a unique id",
                )
            if item.number in seen_numbers:
                raise _fail(
                    f"item '{item.id}' has number {item.number}, which items"
                    f"[{seen_numbers[item.number]}] already has",
                    f"items[{position}].number",
                    "give every item a unique number",
                )
            seen_ids[item.id] = position
            seen_numbers[item.number] = position
        return items

    def _check_languages(self, items: tuple[Item, ...]) -> tuple[str, ...]:
        if isinstance(self.languages, str):
            raise _fail(
                f"languages must be a list of language codes; got {self.languages!r}",
                "languages",
                f"write e.g. languages: [{self.languages}]",
            )
        languages = tuple(self.languages)
        if not languages:
            shared = [lang for lang in items[0].text if all(lang in item.text for item in items)]
            if not shared:
                raise _fail(
                    "the items share no language",
                    "items",
                    "give every item a text in at least one common language",
                )
            return tuple(shared)
        if len(set(languages)) != len(languages):
            raise _fail(f"duplicate language in {list(languages)}", "languages")
        for language in languages:
            _check_text(language, "languages", "a language code")
        for position, item in enumerate(items):
            for language in languages:
                if language not in item.text:
                    raise _fail(
                        f"item '{item.id}' has no '{language}' text, but languages lists "
                        f"{', '.join(languages)}",
                        f"items[{position}].text.{language}",
                        f"add the {language} text or remove '{language}' from languages",
                    )
            for language in item.text:
                if language not in languages:
                    raise _fail(
                        f"item '{item.id}' has a '{language}' text, but languages lists only "
                        f"{', '.join(languages)}",
                        f"items[{position}].text.{language}",
                        f"add '{language}' to languages (and a text to every item)",
                    )
        return languages

    def _check_dimensions(self, items: tuple[Item, ...]) -> dict[str, tuple[str, ...]]:
        position_of = {item.id: position for position, item in enumerate(items)}
        if not isinstance(self.dimensions, Mapping):
            raise _fail(
                f"dimensions must map a dimension name to a list of item ids; "
                f"got {self.dimensions!r}",
                "dimensions",
            )
        if not self.dimensions:
            derived: dict[str, list[str]] = {}
            for item in items:
                if item.dimension is not None:
                    derived.setdefault(item.dimension, []).append(item.id)
            dimensions = {name: tuple(ids) for name, ids in derived.items()}
        else:
            dimensions = {}
            owner: dict[str, str] = {}
            for name, item_ids in self.dimensions.items():
                _check_id(name, "dimensions", "a dimension name")
                if isinstance(item_ids, str) or not isinstance(item_ids, Sequence):
                    raise _fail(
                        f"dimension '{name}' must be a list of item ids; got {item_ids!r}",
                        f"dimensions.{name}",
                        f"write e.g. {name}: [item1, item2]",
                    )
                item_ids = tuple(item_ids)
                if not item_ids:
                    raise _fail(
                        f"dimension '{name}' lists no items",
                        f"dimensions.{name}",
                        "list its items or remove the dimension",
                    )
                for k, item_id in enumerate(item_ids):
                    if item_id not in position_of:
                        raise _fail(
                            f"dimension '{name}' names item {item_id!r}, which the instrument "
                            f"does not have (items: {', '.join(position_of)})",
                            f"dimensions.{name}[{k}]",
                            "correct the item id or add the item",
                        )
                    if item_id in owner:
                        raise _fail(
                            f"item '{item_id}' is in dimension '{owner[item_id]}' and "
                            f"dimension '{name}'",
                            f"dimensions.{name}[{k}]",
                            "put each item in at most one dimension",
                        )
                    owner[item_id] = name
                    item = items[position_of[item_id]]
                    if item.dimension is not None and item.dimension != name:
                        raise _fail(
                            f"item '{item_id}' says its dimension is '{item.dimension}', but "
                            f"dimensions lists it under '{name}'",
                            f"items[{position_of[item_id]}].dimension",
                            "make the item's dimension and the dimensions list agree",
                        )
                dimensions[name] = item_ids
            for item in items:
                if item.dimension is not None and owner.get(item.id) != item.dimension:
                    raise _fail(
                        f"item '{item.id}' says its dimension is '{item.dimension}', but "
                        f"dimensions does not list it there",
                        f"items[{position_of[item.id]}].dimension",
                        f"add '{item.id}' to dimensions.{item.dimension} or correct the item",
                    )
        for name, item_ids in dimensions.items():
            for item_id in item_ids:
                item = items[position_of[item_id]]
                if item.scale is not None and item.scale != self.scale:
                    raise _fail(
                        f"item '{item_id}' of dimension '{name}' has its own scale "
                        f"{item.scale.min}-{item.scale.max}; dimension items must use the "
                        f"instrument's scale {self.scale.min}-{self.scale.max}",
                        f"items[{position_of[item_id]}].scale",
                        "remove the item's scale or take the item out of the dimension",
                    )
        return dimensions

    def __hash__(self) -> int:
        return hash((self.id, self.items, self.scale))

    # -- lookup -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and item_id in self._index

    @property
    def item_ids(self) -> tuple[str, ...]:
        """The item ids, in form order."""
        return tuple(item.id for item in self.items)

    @property
    def scored_item_ids(self) -> tuple[str, ...]:
        """The items on the main scale: those :meth:`total_score` averages."""
        return tuple(item.id for item in self.items if self._on_main_scale(item))

    def _on_main_scale(self, item: Item) -> bool:
        return item.scale is None or item.scale == self.scale

    def item(self, item_id: str) -> Item:
        """The item with this id.

        Raises:
            ParameterError: If the instrument has no such item (the message lists its items).
        """
        try:
            return self._index[item_id]
        except (KeyError, TypeError):
            raise ParameterError(
                f"instrument '{self.id}' has no item {item_id!r}",
                field="item_id",
                fix=f"use one of: {', '.join(self.item_ids)}",
            ) from None

    def scale_for(self, item_id: str) -> Scale:
        """The scale an item is rated on: its own if it has one, else the instrument's."""
        item = self.item(item_id)
        return item.scale if item.scale is not None else self.scale

    # -- values and scores ------------------------------------------------------------

    def check_value(self, item_id: str, value: object) -> str | None:
        """None if ``value`` is a valid rating of the item, else what is wrong with it.

        Valid means a real number (not NaN) within the item's scale; it need not be whole.
        """
        if item_id not in self:
            return f"instrument '{self.id}' has no item {item_id!r}"
        problem = self.scale_for(item_id).check(value)
        return None if problem is None else f"item '{item_id}': {problem}"

    def _require_value(self, item_id: str, value: object, field: str) -> float:
        self.item(item_id)
        problem = self.check_value(item_id, value)
        if problem is not None:
            scale = self.scale_for(item_id)
            raise ParameterError(
                problem,
                field=field,
                fix=f"give a number from {scale.min} to {scale.max}, or leave the item out",
            )
        return float(value)  # type: ignore[arg-type]

    def reverse(self, item_id: str, value: float) -> float:
        """The value after reverse keying: reversed for reverse-keyed items, else unchanged.

        Raises:
            ParameterError: If the item is unknown or the value is not on its scale.
        """
        number = self._require_value(item_id, value, "value")
        if self.item(item_id).reverse_keyed:
            return self.scale_for(item_id).reverse(number)
        return number

    def keyed_values(self, values: Mapping[str, float | None]) -> dict[str, float]:
        """The rated items' values after reverse keying (unrated items are left out).

        Raises:
            ParameterError: If ``values`` names an unknown item or a value is off its scale.
        """
        if not isinstance(values, Mapping):
            raise ParameterError(
                f"values must map item ids to ratings; got {type(values).__name__}",
                field="values",
            )
        keyed: dict[str, float] = {}
        for item_id, value in values.items():
            if item_id not in self:
                raise ParameterError(
                    f"instrument '{self.id}' has no item {item_id!r}",
                    field=f"values[{item_id!r}]",
                    fix=f"use the item ids {', '.join(self.item_ids)}",
                )
            if _is_missing(value):
                continue
            keyed[item_id] = self.reverse(item_id, value)  # type: ignore[arg-type]
        return keyed

    @staticmethod
    def _mean(keyed: Mapping[str, float], item_ids: Sequence[str], min_items: int | None) -> float:
        rated = [keyed[item_id] for item_id in item_ids if item_id in keyed]
        required = len(item_ids) if min_items is None else min(min_items, len(item_ids))
        if not rated or len(rated) < required:
            return math.nan
        return sum(rated) / len(rated)

    @staticmethod
    def _check_min_items(min_items: int | None) -> None:
        if min_items is not None and (not _is_int(min_items) or min_items < 1):
            raise ParameterError(
                f"min_items must be None or a positive integer; got {min_items!r}",
                field="min_items",
                fix="use None to require every item, or e.g. 3 to accept 3 rated items",
            )

    def dimension_scores(
        self, values: Mapping[str, float | None], *, min_items: int | None = None
    ) -> dict[str, float]:
        """Each dimension's score: the mean of its items after reverse keying.

        Args:
            values: Item id to rating. Unrated items are absent, None or NaN.
            min_items: None (the default) requires every item of a dimension to be rated,
                otherwise its score is NaN. An integer ``k`` accepts the mean of the rated
                items when at least ``k`` of them are rated (a dimension with fewer than
                ``k`` items needs all of them).

        Returns:
            Dimension id to score, in the instrument's dimension order (NaN where missing).

        Raises:
            ParameterError: If ``values`` names an unknown item or a value is off its scale.
        """
        self._check_min_items(min_items)
        keyed = self.keyed_values(values)
        return {
            name: self._mean(keyed, item_ids, min_items)
            for name, item_ids in self.dimensions.items()
        }

    def total_score(
        self, values: Mapping[str, float | None], *, min_items: int | None = None
    ) -> float:
        """The mean of all items on the main scale after reverse keying.

        Items with a scale of their own (e.g. KokoroChat's 0-100 ``overall``) are not part
        of it. Missing items follow the rule of :meth:`dimension_scores`: by default all
        scored items must be rated, otherwise the total is NaN.
        """
        self._check_min_items(min_items)
        return self._mean(self.keyed_values(values), self.scored_item_ids, min_items)

    # -- texts ------------------------------------------------------------------------

    def resolve_language(self, language: str, *, strict: bool = False) -> str:
        """The language that texts in ``language`` are actually given in.

        The rule: ``language`` itself if the instrument has it; else its primary subtag
        (``"zh-CN"`` -> ``"zh"``); else English; else the instrument's first language.

        Raises:
            ParameterError: With ``strict=True``, if the instrument has neither
                ``language`` nor its primary subtag.
        """
        if not isinstance(language, str) or not language.strip():
            raise ParameterError(
                f"language must be a language code such as 'en'; got {language!r}",
                field="language",
            )
        for candidate in (language, primary_language(language)):
            if candidate in self.languages:
                return candidate
        if strict:
            raise ParameterError(
                f"instrument '{self.id}' has no '{language}' texts",
                field="language",
                fix=f"use one of: {', '.join(self.languages)}",
            )
        if DEFAULT_LANGUAGE in self.languages:
            return DEFAULT_LANGUAGE
        return self.languages[0]

    def item_text(
        self,
        item_id: str,
        language: str = DEFAULT_LANGUAGE,
        counselor_name: str | None = None,
        *,
        strict: bool = False,
    ) -> str:
        """The item's text in ``language`` with the ``___`` blank filled in.

        Args:
            item_id: The item.
            language: Language code; falls back as :meth:`resolve_language` describes.
            counselor_name: What fills the blank; None gives the default of the language
                actually used (``"the counselor"``, ``"咨询师"``). A name at the start of a
                sentence is capitalized.
            strict: Raise instead of falling back to another language.
        """
        item = self.item(item_id)
        used = self.resolve_language(language, strict=strict)
        text = item.text[used]
        if BLANK not in text:
            return text
        name = (
            counselor_name
            if counselor_name is not None
            else COUNSELOR_NAMES.get(used, COUNSELOR_NAMES[DEFAULT_LANGUAGE])
        )
        capitalized = name[:1].upper() + name[1:]
        text = re.sub(r"(^|[.!?]\s+)" + re.escape(BLANK), lambda m: m.group(1) + capitalized, text)
        return text.replace(BLANK, name)

    def option_labels(
        self, language: str = DEFAULT_LANGUAGE, item_id: str | None = None
    ) -> tuple[str, ...]:
        """The labels of the scale's points in ``language``, lowest first.

        Args:
            language: Language code; falls back as :meth:`Scale.labels_for` describes.
            item_id: Give an item to get its own scale's labels (default: the main scale).
        """
        scale = self.scale if item_id is None else self.scale_for(item_id)
        return scale.labels_for(language)
