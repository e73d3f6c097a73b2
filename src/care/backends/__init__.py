"""Model backends behind one interface; see :mod:`care.backends.base`.

The engines' SDKs are imported only when a backend is used, so importing this package needs
nothing beyond care's own dependencies and pydantic.
"""

from __future__ import annotations

from care.backends.registry import (
    available_backends,
    builtin_backends,
    get_backend,
    is_backend_spec,
    split_spec,
)

__all__ = ["available_backends", "builtin_backends", "get_backend", "is_backend_spec", "split_spec"]
