"""Finding a backend by its ``provider/model`` string.

Every provider, built-in or third-party, is an entry point of the ``care.backends`` group:
care registers its own (``transformers``, ``openai``, ``vllm``, ``llamacpp``) in its
``pyproject.toml`` exactly as a plugin does in its own::

    [project.entry-points."care.backends"]
    myengine = "my_package.backend:MyBackend"

where ``MyBackend`` subclasses :class:`care.backends.base.Backend`. That table is the one list
of providers. Tests and programs can also call :func:`register_backend`. Nothing is imported
until a backend is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from care.errors import ParameterError

if TYPE_CHECKING:
    from care.backends.base import Backend

ENTRY_POINT_GROUP = "care.backends"
_registered: dict[str, Callable[..., Backend]] = {}


def register_backend(provider: str, factory: Callable[..., Backend]) -> None:
    """Make ``provider/<model>`` build ``factory(model, **options)`` (in this process)."""
    _registered[provider] = factory


def unregister_backend(provider: str) -> None:
    """Undo :func:`register_backend`."""
    _registered.pop(provider, None)


def _entry_points() -> dict[str, str]:
    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def builtin_backends() -> dict[str, str]:
    """The providers care itself registers (entry points of the care-alliance package)."""
    return {
        point.name: point.value
        for point in entry_points(group=ENTRY_POINT_GROUP)
        if point.value.startswith("care.backends.")
    }


def available_backends() -> list[str]:
    """Every provider name that can be used."""
    return sorted({*_entry_points(), *_registered})


def split_spec(spec: str) -> tuple[str, str]:
    """``"provider/model"`` to ``("provider", "model")``."""
    provider, sep, model = spec.partition("/")
    if not sep or not provider or not model:
        raise ParameterError(
            f"a model must be given as PROVIDER/MODEL; got {spec!r}",
            field="--model",
            fix=f"write e.g. transformers/gemma3-270m; providers: {available_backends()}",
        )
    return provider, model


def is_backend_spec(value: str | None) -> bool:
    """Whether ``value`` names a backend (``provider/model`` with a known provider)."""
    if not value or "/" not in value:
        return False
    provider = value.partition("/")[0]
    return provider in _registered or provider in _entry_points()


def backend_class(provider: str) -> Callable[..., Backend]:
    """The class (or factory) of ``provider``, imported now."""
    if provider in _registered:
        return _registered[provider]
    target = _entry_points().get(provider)
    if target is None:
        raise ParameterError(
            f"unknown model provider {provider!r}",
            field="--model",
            fix=f"use one of {available_backends()}, or install the package that adds it",
        )
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def get_backend(spec: str, **options: Any) -> Backend:
    """The backend for ``"provider/model"``, built with ``options`` (backend-specific,
    e.g. ``base_url`` for ``openai``; unknown options are refused)."""
    provider, model = split_spec(spec)
    return backend_class(provider)(model, **options)
