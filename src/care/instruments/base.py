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

from care.errors import ParameterError
from care.instruments.checks import check_dimensions, check_items, check_languages
from care.instruments.items import (
    BLANK,
    COUNSELOR_NAMES,
    DEFAULT_LANGUAGE,
    RATERS,
    Item,
    Rater,
    Scale,
    _check_id,
    _check_text,
    _fail,
    _is_int,
    _is_missing,
    primary_language,
)

__all__ = ["Instrument"]


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
        items = check_items(self.items)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "languages", check_languages(self.languages, items))
        object.__setattr__(self, "dimensions", check_dimensions(self.dimensions, items, self.scale))
        object.__setattr__(self, "_index", {item.id: item for item in items})

    # -- identity ---------------------------------------------------------------------

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

    def reverse(self, item_id: str, value: float) -> float:
        """The value after reverse keying: reversed for reverse-keyed items, else unchanged.

        Raises:
            ParameterError: If the item is unknown or the value is not on its scale.
        """
        return self._keyed(self.item(item_id), value)

    def _keyed(self, item: Item, value: object) -> float:
        scale = item.scale if item.scale is not None else self.scale
        problem = scale.check(value)
        if problem is not None:
            raise ParameterError(
                f"item '{item.id}': {problem}",
                field="value",
                fix=f"give a number from {scale.min} to {scale.max}, or leave the item out",
            )
        number = float(value)  # type: ignore[arg-type]
        return scale.reverse(number) if item.reverse_keyed else number

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
            keyed[item_id] = self._keyed(self._index[item_id], value)
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
