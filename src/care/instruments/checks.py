"""Checking an instrument's definition as a whole: its items, languages and dimensions.

Each check raises :class:`~care.errors.InstrumentError` naming the field at fault (e.g.
``"items[3].id"``, ``"dimensions.goal[1]"``) with a fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from care.instruments.items import Item, Scale, _check_id, _check_text, _fail

__all__ = ["check_dimensions", "check_items", "check_languages"]


def check_items(given: object) -> tuple[Item, ...]:
    """The items of an instrument, checked: a non-empty list of Items with unique ids and
    numbers."""
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise _fail(f"items must be a list of items; got {given!r}", "items")
    items = tuple(given)
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


def check_languages(given: object, items: tuple[Item, ...]) -> tuple[str, ...]:
    """The languages of an instrument, checked against its items' texts; derived (those
    all items share) when none are given."""
    if isinstance(given, str):
        raise _fail(
            f"languages must be a list of language codes; got {given!r}",
            "languages",
            f"write e.g. languages: [{given}]",
        )
    languages = tuple(given)
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


def check_dimensions(
    given: object, items: tuple[Item, ...], scale: Scale
) -> dict[str, tuple[str, ...]]:
    """The dimensions of an instrument, checked against its items; derived from the items'
    ``dimension`` when none are given. Every item of a dimension must use ``scale``."""
    position_of = {item.id: position for position, item in enumerate(items)}
    if not isinstance(given, Mapping):
        raise _fail(
            f"dimensions must map a dimension name to a list of item ids; got {given!r}",
            "dimensions",
        )
    if not given:
        derived: dict[str, list[str]] = {}
        for item in items:
            if item.dimension is not None:
                derived.setdefault(item.dimension, []).append(item.id)
        dimensions = {name: tuple(ids) for name, ids in derived.items()}
    else:
        dimensions = {}
        owner: dict[str, str] = {}
        for name, item_ids in given.items():
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
            if item.scale is not None and item.scale != scale:
                raise _fail(
                    f"item '{item_id}' of dimension '{name}' has its own scale "
                    f"{item.scale.min}-{item.scale.max}; dimension items must use the "
                    f"instrument's scale {scale.min}-{scale.max}",
                    f"items[{position_of[item_id]}].scale",
                    "remove the item's scale or take the item out of the dimension",
                )
    return dimensions
