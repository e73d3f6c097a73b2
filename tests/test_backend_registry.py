"""The built-in backends are registered like a plugin's: the entry-point table in
pyproject.toml is the one list of providers."""

from __future__ import annotations

import tomllib
from pathlib import Path

from care.backends.base import Backend
from care.backends.registry import available_backends, backend_class, builtin_backends

ROOT = Path(__file__).resolve().parents[1]


def test_the_entry_point_table_is_the_one_list_of_builtin_providers() -> None:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = table["entry-points"]["care.backends"]
    assert builtin_backends() == declared
    assert set(declared) <= set(available_backends())
    for provider in declared:
        target = declared[provider]
        module = target.partition(":")[0]
        assert (ROOT / "src" / Path(*module.split("."))).with_suffix(".py").is_file()
        if provider in ("openai", "llamacpp", "transformers"):
            assert issubclass(backend_class(provider), Backend)
