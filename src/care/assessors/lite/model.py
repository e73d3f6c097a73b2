"""The built-in model's weights: what they are, and how they are saved and loaded.

A model is one ``.npz`` file read with ``allow_pickle=False``: arrays of numbers, the
vocabularies as UTF-8 bytes, and a JSON header (format version, configuration, training
data and cross-validated metrics). Loading checks the format version.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from care.assessors.lite.features import BlockSpec
from care.assessors.lite.text import DEFAULT_TOKENIZER, TOKENIZERS
from care.assessors.lite.vectorizer import TfidfVocabulary
from care.errors import ModelError
from care.output.atomic import atomic_write

FORMAT = "care-lite"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LiteConfig:
    """How a built-in model is built (the ``care train lite`` options).

    Attributes:
        language: ``"en"``, ``"zh"`` or ``"ja"``; decides tokenisation.
        instrument: Instrument id the model predicts.
        blocks: Role/phase blocks of n-gram features.
        max_n: Longest n-gram (words for English, characters for Chinese/Japanese).
        min_df: A token must occur in this many training sessions.
        max_features: At most this many tokens per block (the most frequent).
        alpha: Ridge penalty.
        dense_weight: Scale of the standardised length features against the TF-IDF blocks.
        cut: Train on the first ``cut`` fraction of each session's turns (None: whole
            sessions); a cut model assesses sessions before their end.
        seed: Seed of the cross-validation folds.
        tokenizer: Which tokenizer (see :mod:`care.assessors.lite.text`); models saved
            before this field existed used tokenizer 1.
    """

    language: str = "en"
    instrument: str = "kokorochat-feedback"
    blocks: tuple[BlockSpec, ...] = (
        BlockSpec("client"),
        BlockSpec("counselor"),
        BlockSpec("client", last_turns=6, weight=0.7),
        BlockSpec("client", 0.8, 1.0, weight=0.5),
        BlockSpec("counselor", 0.8, 1.0, weight=0.5),
    )
    max_n: int = 2
    min_df: int = 3
    max_features: int | None = 40000
    alpha: float = 3.0
    dense_weight: float = 0.3
    cut: float | None = None
    seed: int = 123
    tokenizer: int = DEFAULT_TOKENIZER

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["blocks"] = [asdict(block) for block in self.blocks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiteConfig:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["blocks"] = tuple(BlockSpec(**block) for block in values.get("blocks", []))
        values.setdefault("tokenizer", 1)
        return cls(**values)


@dataclass
class LiteModel:
    """A trained built-in model.

    Attributes:
        name: Model name, e.g. ``"care-lite-en"``.
        version: Version string recorded with every result.
        config: How it was built.
        item_ids: The outputs, in order (the instrument's items).
        vocabularies: One per block of ``config.blocks``.
        coef: (features x outputs) weights.
        intercept: One per output.
        dense_mean, dense_scale: Standardisation of the length features.
        calibration: (2 x outputs) slope and offset applied to the raw predictions,
            fitted on cross-validated predictions so that scores sit on the scale.
        info: Training data, license, cross-validated metrics (the model card's figures).
        trust: The intervals, reference percentiles and domain reference fitted on the
            cross-validation (:class:`care.assessors.trust.TrustModel` as a dict), or None.
            Stored beside the weights, outside the fingerprint: it describes the weights'
            errors and changes no prediction.
    """

    name: str
    version: str
    config: LiteConfig
    item_ids: list[str]
    vocabularies: list[TfidfVocabulary]
    coef: np.ndarray
    intercept: np.ndarray
    dense_mean: np.ndarray
    dense_scale: np.ndarray
    calibration: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    trust: dict[str, Any] | None = None

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the stored weights and vocabularies: the same for a model and
        for the file it was saved to, different for any retrained model."""
        digest = hashlib.sha256()
        for key, array in sorted(self._arrays().items()):
            digest.update(key.encode("utf-8"))
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:12]

    @property
    def release(self) -> str:
        """The version recorded with every result: ``version#fingerprint``, so results and
        run stores of one set of weights are never taken for another's."""
        return f"{self.version}#{self.fingerprint}"

    def _arrays(self) -> dict[str, np.ndarray]:
        """The weights as they are stored (float16 weights with a per-output scale)."""
        arrays: dict[str, np.ndarray] = {
            "coef_scale": np.abs(self.coef).max(axis=0, keepdims=True).astype(np.float32),
            "intercept": self.intercept.astype(np.float64),
            "dense_mean": self.dense_mean.astype(np.float64),
            "dense_scale": self.dense_scale.astype(np.float64),
            "calibration": self.calibration.astype(np.float64),
        }
        scale = arrays["coef_scale"].astype(np.float64)
        scale[scale == 0] = 1.0
        arrays["coef"] = (self.coef / scale).astype(np.float16)
        for position, vocabulary in enumerate(self.vocabularies):
            tokens = sorted(vocabulary.vocabulary, key=vocabulary.vocabulary.__getitem__)
            arrays[f"tokens_{position}"] = np.frombuffer(
                "\n".join(tokens).encode("utf-8"), dtype=np.uint8
            )
            arrays[f"idf_{position}"] = vocabulary.idf.astype(np.float32)
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (a ``.npz`` file)."""
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "config": self.config.to_dict(),
            "item_ids": self.item_ids,
            "info": self.info,
        }
        arrays = {
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            **self._arrays(),
        }
        if self.trust is not None:
            arrays["trust"] = np.frombuffer(json.dumps(self.trust).encode("utf-8"), dtype=np.uint8)
        target = Path(path)
        with atomic_write(target, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return target

    @classmethod
    def load(cls, path: str | Path) -> LiteModel:
        """Read a model written by :meth:`save`, checking its format version."""
        source = Path(path)
        if not source.is_file():
            raise ModelError(
                "no such model file",
                file=str(source),
                fix="give the path of a model written by `care train lite`",
            )
        if source.stat().st_size == 0:
            raise ModelError(
                "the model file is empty",
                file=str(source),
                fix="give the path of a model written by `care train lite` (was it copied "
                "completely?)",
            )
        try:
            with np.load(source, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            header = json.loads(arrays["header"].tobytes().decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("the header is not an object")
            if "trust" in arrays:  # read here, so a damaged one is reported like the header
                header["trust"] = json.loads(arrays["trust"].tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, EOFError, AttributeError, zipfile.BadZipFile):
            raise ModelError(
                "not a care-lite model file (it is not an archive of the arrays care writes)",
                file=str(source),
                fix="give the path of a model written by `care train lite`",
            ) from None
        if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"model format {header.get('format')!r} version "
                f"{header.get('format_version')!r} is not supported (this care reads "
                f"{FORMAT} version {FORMAT_VERSION})",
                file=str(source),
                fix="retrain the model with this version of care (`care train lite`)",
            )
        try:
            return cls._from_arrays(header, arrays, source)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise ModelError(
                "the model file is incomplete or damaged (an array or header field is missing "
                "or has the wrong shape)",
                file=str(source),
                fix="write the model again with `care train lite`",
            ) from None

    @classmethod
    def _from_arrays(
        cls, header: dict[str, Any], arrays: dict[str, Any], source: Path
    ) -> LiteModel:
        config = LiteConfig.from_dict(header["config"])
        if config.tokenizer not in TOKENIZERS:
            raise ModelError(
                f"the model uses tokenizer {config.tokenizer!r}, which this care does not "
                f"know (it knows {', '.join(map(str, TOKENIZERS))})",
                file=str(source),
                fix="upgrade care, or retrain the model with this version (`care train lite`)",
            )
        vocabularies = []
        for position in range(len(config.blocks)):
            text = arrays[f"tokens_{position}"].tobytes().decode("utf-8")
            tokens = text.split("\n") if text else []
            vocabularies.append(
                TfidfVocabulary(
                    {token: column for column, token in enumerate(tokens)},
                    arrays[f"idf_{position}"].astype(np.float64),
                )
            )
        coef = arrays["coef"].astype(np.float64) * arrays["coef_scale"].astype(np.float64)
        return cls(
            name=header["name"],
            version=header["version"],
            config=config,
            item_ids=list(header["item_ids"]),
            vocabularies=vocabularies,
            coef=coef,
            intercept=arrays["intercept"],
            dense_mean=arrays["dense_mean"],
            dense_scale=arrays["dense_scale"],
            calibration=arrays["calibration"],
            info=header.get("info", {}),
            trust=header.get("trust"),
        )
