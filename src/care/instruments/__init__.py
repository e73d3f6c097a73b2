"""Instruments as data: the questionnaires used to rate the working alliance.

Built-in instruments (ids for :func:`get_instrument`):

* ``wai-sr-client``: WAI-SR, client form (Hatcher & Gillaspy, 2006), en + zh, 1-5.
* ``wai-sr-counselor``: the same 12 items from the counselor's side, en + zh, 1-5.
* ``wai-o-s``: Working Alliance Inventory, observer short form, en + zh, 1-7.
* ``kokorochat-feedback``: KokoroChat's client feedback form (20 items 0-5 plus an overall
  score 0-100) with proxy goal/task/bond dimensions.

A new questionnaire is a YAML or JSON file (``docs/instruments.md``) passed to
:func:`get_instrument` or :func:`load_instrument`.

The constants ``WAI_SR_CLIENT``, ``WAI_SR_COUNSELOR``, ``WAI_O_S`` and
``KOKOROCHAT_FEEDBACK`` are the built-in instruments, loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from care.instruments.base import Instrument
from care.instruments.items import (
    BLANK,
    COUNSELOR_NAMES,
    DEFAULT_LANGUAGE,
    RATERS,
    Item,
    Rater,
    Scale,
)
from care.instruments.loader import (
    FORMAT_VERSION,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    list_instruments,
    load_instrument,
    register_instrument,
    save_instrument,
)

if TYPE_CHECKING:
    WAI_SR_CLIENT: Instrument
    WAI_SR_COUNSELOR: Instrument
    WAI_O_S: Instrument
    KOKOROCHAT_FEEDBACK: Instrument

_CONSTANTS = {
    "WAI_SR_CLIENT": "wai-sr-client",
    "WAI_SR_COUNSELOR": "wai-sr-counselor",
    "WAI_O_S": "wai-o-s",
    "KOKOROCHAT_FEEDBACK": "kokorochat-feedback",
}

__all__ = [
    "BLANK",
    "COUNSELOR_NAMES",
    "DEFAULT_LANGUAGE",
    "FORMAT_VERSION",
    "KOKOROCHAT_FEEDBACK",
    "RATERS",
    "WAI_O_S",
    "WAI_SR_CLIENT",
    "WAI_SR_COUNSELOR",
    "Instrument",
    "Item",
    "Rater",
    "Scale",
    "get_instrument",
    "instrument_from_dict",
    "instrument_to_dict",
    "list_instruments",
    "load_instrument",
    "register_instrument",
    "save_instrument",
]


def __getattr__(name: str) -> Instrument:
    """Load the built-in instrument constants lazily (PEP 562)."""
    if name in _CONSTANTS:
        return get_instrument(_CONSTANTS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CONSTANTS))
