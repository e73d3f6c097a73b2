"""Load instruments from YAML or JSON files, and look up the built-in ones.

The file format is documented in ``docs/instruments.md``. In short::

    format_version: 1
    id: my-alliance-scale
    name: My alliance scale
    rater: client
    scale: {min: 1, max: 5, labels: {en: [Seldom, Sometimes, Fairly often, Very often, Always]}}
    dimensions: {bond: [b1, b2]}
    items:
      - {id: b1, text: {en: "I believe ___ likes me."}}
      - {id: b2, text: {en: "I feel ___ does not understand me."}, reverse_keyed: true}

Built-in instruments are package data (``care/instruments/builtin/<id>.yaml``) and are
looked up by id with :func:`get_instrument`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from care.errors import InstrumentError
from care.instruments.base import Instrument
from care.instruments.items import Item, Scale

FORMAT_VERSION = 1
"""The version of the instrument file format this code reads and writes."""

SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")
"""File suffixes :func:`load_instrument` understands."""

_TOP_KEYS = {
    "format_version": False,
    "id": True,
    "name": True,
    "description": False,
    "rater": True,
    "languages": False,
    "citation": False,
    "source": False,
    "scale": True,
    "dimensions": False,
    "items": True,
}
_ITEM_KEYS = {
    "id": True,
    "number": False,
    "text": True,
    "dimension": False,
    "reverse_keyed": False,
    "scale": False,
}
_SCALE_KEYS = {"min": True, "max": True, "labels": False}

try:  # the C loader is much faster where PyYAML was built with libyaml
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _YamlLoader = yaml.SafeLoader


def _error(
    message: str, file: str | None, field: str | None = None, fix: str | None = None
) -> InstrumentError:
    return InstrumentError(message, file=file, field=field, fix=fix)


def _rebase(error: InstrumentError, file: str | None, prefix: str | None) -> InstrumentError:
    """The same problem, placed in ``file`` and under the field ``prefix``."""
    problem = error.problem
    field = problem.field
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return InstrumentError(
        problem.message,
        file=file or problem.file,
        record=problem.record,
        field=field,
        fix=problem.fix,
    )


def _check_keys(
    data: object, allowed: Mapping[str, bool], file: str | None, where: str, what: str
) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _error(
            f"{what} must be a mapping of keys to values; got {type(data).__name__}",
            file,
            where or None,
            f"write {what} as 'key: value' lines",
        )
    for key in data:
        if key not in allowed:
            raise _error(
                f"unknown key {key!r} in {what}",
                file,
                f"{where}.{key}" if where else str(key),
                f"use only the keys {', '.join(allowed)} (check the spelling)",
            )
    for key, required in allowed.items():
        if required and key not in data:
            raise _error(
                f"{what} has no {key!r}",
                file,
                f"{where}.{key}" if where else key,
                f"add '{key}:' to {what}",
            )
    return data


def _scale_from_dict(data: object, file: str | None, where: str) -> Scale:
    data = _check_keys(data, _SCALE_KEYS, file, where, f"the {where} mapping")
    labels = data.get("labels") or {}
    try:
        return Scale(min=data["min"], max=data["max"], labels=labels)
    except InstrumentError as error:
        raise _rebase(error, file, where) from None


def _item_from_dict(
    data: object, position: int, owners: Mapping[str, str], file: str | None
) -> Item:
    where = f"items[{position}]"
    data = _check_keys(data, _ITEM_KEYS, file, where, f"item {position + 1}")
    text = data["text"]
    if isinstance(text, str):
        text = {"en": text}
    scale = None
    if data.get("scale") is not None:
        scale = _scale_from_dict(data["scale"], file, f"{where}.scale")
    dimension = data.get("dimension")
    if dimension is None and isinstance(data["id"], str):
        dimension = owners.get(data["id"])
    try:
        return Item(
            id=data["id"],
            number=data.get("number", position + 1),
            text=text,
            dimension=dimension,
            reverse_keyed=data.get("reverse_keyed", False),
            scale=scale,
        )
    except InstrumentError as error:
        raise _rebase(error, file, where) from None


def instrument_from_dict(data: object, *, file: str | os.PathLike[str] | None = None) -> Instrument:
    """Build an :class:`Instrument` from a parsed YAML/JSON document.

    Args:
        data: The document (a mapping; see ``docs/instruments.md`` for its keys).
        file: The file it came from, named in error messages.

    Raises:
        InstrumentError: If the definition is invalid; the message names the file and field.
    """
    name = None if file is None else str(file)
    data = _check_keys(data, _TOP_KEYS, name, "", "the instrument")
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise _error(
            f"format_version {version!r} is not supported (this version of care reads "
            f"format_version {FORMAT_VERSION})",
            name,
            "format_version",
            f"set format_version: {FORMAT_VERSION} or upgrade care",
        )
    scale = _scale_from_dict(data["scale"], name, "scale")

    dimensions = data.get("dimensions") or {}
    if not isinstance(dimensions, Mapping):
        raise _error(
            f"dimensions must map a dimension name to a list of item ids; got {dimensions!r}",
            name,
            "dimensions",
            "write e.g. dimensions: {bond: [item1, item2]}",
        )
    owners: dict[str, str] = {}
    for dimension, item_ids in dimensions.items():
        if isinstance(item_ids, list):
            for item_id in item_ids:
                if isinstance(item_id, str):
                    owners.setdefault(item_id, str(dimension))

    raw_items = data["items"]
    if not isinstance(raw_items, list):
        raise _error(
            f"items must be a list of items; got {type(raw_items).__name__}",
            name,
            "items",
            "write each item as a '- id: ...' entry under items:",
        )
    items = [
        _item_from_dict(raw_item, position, owners, name)
        for position, raw_item in enumerate(raw_items)
    ]
    languages = data.get("languages") or ()
    if isinstance(languages, list):
        languages = tuple(languages)
    try:
        return Instrument(
            id=data["id"],
            name=data["name"],
            description=data.get("description") or "",
            items=tuple(items),
            scale=scale,
            dimensions=dict(dimensions),
            languages=languages,
            rater=data["rater"],
            citation=data.get("citation") or "",
            source=data.get("source") or "",
        )
    except InstrumentError as error:
        raise _rebase(error, name, None) from None


def instrument_to_dict(instrument: Instrument) -> dict[str, Any]:
    """The instrument as a plain document that :func:`instrument_from_dict` reads back."""

    def scale_dict(scale: Scale) -> dict[str, Any]:
        out: dict[str, Any] = {"min": scale.min, "max": scale.max}
        if scale.labels:
            out["labels"] = {lang: list(labels) for lang, labels in scale.labels.items()}
        return out

    items = []
    for item in instrument.items:
        entry: dict[str, Any] = {"id": item.id, "number": item.number}
        if item.dimension is not None:
            entry["dimension"] = item.dimension
        if item.reverse_keyed:
            entry["reverse_keyed"] = True
        if item.scale is not None:
            entry["scale"] = scale_dict(item.scale)
        entry["text"] = dict(item.text)
        items.append(entry)
    return {
        "format_version": FORMAT_VERSION,
        "id": instrument.id,
        "name": instrument.name,
        "description": instrument.description,
        "rater": instrument.rater,
        "languages": list(instrument.languages),
        "citation": instrument.citation,
        "source": instrument.source,
        "scale": scale_dict(instrument.scale),
        "dimensions": {name: list(ids) for name, ids in instrument.dimensions.items()},
        "items": items,
    }


def _parse(text: str, suffix: str, file: str) -> object:
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InstrumentError(
                f"not valid JSON: {error.msg}",
                file=file,
                record=f"line {error.lineno}",
                fix="correct the JSON syntax at that line",
            ) from None
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise InstrumentError(
            f"not valid YAML: {problem}",
            file=file,
            record=None if mark is None else f"line {mark.line + 1}",
            fix="correct the YAML syntax at that line (quote texts that contain ': ')",
        ) from None


def load_instrument(path: str | os.PathLike[str]) -> Instrument:
    """Load a (custom) instrument from a ``.yaml``, ``.yml`` or ``.json`` file.

    Raises:
        InstrumentError: If the file is missing, unreadable, not valid YAML/JSON, or the
            definition is invalid; the message names the file and the field.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise _error(
            f"unsupported instrument file type {file.suffix or '(none)'!r}",
            str(file),
            None,
            f"save the instrument as one of {', '.join(SUFFIXES)}",
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _error("instrument file not found", str(file), None, "check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _error(
            f"cannot read the instrument file: {error}",
            str(file),
            None,
            "make sure it is a readable UTF-8 text file",
        ) from None
    instrument = instrument_from_dict(_parse(text, suffix, str(file)), file=str(file))
    if instrument.id.strip().lower() not in _builtin_files():
        register_instrument(instrument, file=str(file))
    return instrument


_REGISTERED: dict[str, Instrument] = {}


def register_instrument(instrument: Instrument, *, file: str | None = None) -> Instrument:
    """Make a custom instrument findable by its id in this process (results and models
    refer to instruments by id). Loading an instrument file with an id of its own
    registers it.

    Raises:
        InstrumentError: If the id is a built-in one.
    """
    key = instrument.id.strip().lower()
    if key in _builtin_files():
        raise _error(
            f"the id {instrument.id!r} is taken by a built-in instrument",
            file,
            "id",
            "give the custom instrument an id of its own",
        )
    _REGISTERED[key] = instrument
    return instrument


def save_instrument(instrument: Instrument, path: str | os.PathLike[str]) -> Path:
    """Write an instrument to a ``.yaml``/``.yml`` or ``.json`` file; returns the path."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise _error(
            f"unsupported instrument file type {file.suffix or '(none)'!r}",
            str(file),
            None,
            f"use one of {', '.join(SUFFIXES)}",
        )
    data = instrument_to_dict(instrument)
    if suffix == ".json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    file.write_text(text, encoding="utf-8")
    return file


def _builtin_dir() -> Any:
    return resources.files("care.instruments").joinpath("builtin")


@lru_cache(maxsize=1)
def _builtin_files() -> dict[str, Any]:
    return {
        entry.name[: -len(".yaml")]: entry
        for entry in _builtin_dir().iterdir()
        if entry.name.endswith(".yaml")
    }


def list_instruments() -> list[str]:
    """The ids of the built-in instruments, sorted."""
    return sorted(_builtin_files())


@cache
def _load_builtin(instrument_id: str) -> Instrument:
    entry = _builtin_files()[instrument_id]
    label = f"<builtin>/{entry.name}"
    return instrument_from_dict(
        _parse(entry.read_text(encoding="utf-8"), ".yaml", label), file=label
    )


def _looks_like_path(value: str) -> bool:
    return value.lower().endswith(SUFFIXES) or "/" in value or os.sep in value


def get_instrument(id_or_path: str | os.PathLike[str] | Instrument) -> Instrument:
    """A built-in instrument by id (e.g. ``"wai-sr-client"``), or one loaded from a file.

    Args:
        id_or_path: A built-in id (case-insensitive; see :func:`list_instruments`), a path
            to a ``.yaml``/``.yml``/``.json`` instrument file, or an :class:`Instrument`
            (returned as is).

    Raises:
        InstrumentError: If the id is unknown (the message lists the built-in ids) or the
            file is invalid.
    """
    if isinstance(id_or_path, Instrument):
        return id_or_path
    if isinstance(id_or_path, os.PathLike):
        return load_instrument(id_or_path)
    if not isinstance(id_or_path, str) or not id_or_path.strip():
        raise InstrumentError(
            f"an instrument must be given as an id or a file path; got {id_or_path!r}",
            field="instrument",
            fix=f"use one of: {', '.join(list_instruments())}",
        )
    key = id_or_path.strip().lower()
    if key in _builtin_files():
        return _load_builtin(key)
    if key in _REGISTERED:
        return _REGISTERED[key]
    if _looks_like_path(id_or_path) or Path(id_or_path).is_file():
        return load_instrument(id_or_path)
    raise InstrumentError(
        f"unknown instrument {id_or_path!r}",
        field="instrument",
        fix=f"use one of: {', '.join(list_instruments())}, "
        f"or give the path to a {'/'.join(SUFFIXES)} instrument file",
    )
