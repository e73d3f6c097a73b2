"""A frozen copy of the built-in model's first, per-token prediction path (tokenizer,
TF-IDF, per-token effects, turn shares, evidence and quotes), kept only so that tests can
check that the vectorised path in ``care.assessors.lite`` gives the same numbers and the
same evidence. Slow (pure-Python loops over tokens) and not used by care itself.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from care.assessors.lite.model import LiteModel
from care.data.session import Session
from care.features.length import length_matrix, standardize
from care.instruments import get_instrument

_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？…]*[\"'”’）)]*")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORD_OR_MARK = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_LATIN_OR_CHAR = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
_LATIN = re.compile(r"[a-z0-9]")
MAX_QUOTE_CHARS = 160


def tokenize(
    text: str,
    language: str,
    max_n: int,
    tokenizer: int,
    starts_turn: bool = True,
    ends_turn: bool = True,
) -> list[str]:
    """The original tokenizers 1 and 2."""
    if tokenizer == 1:
        if language in ("zh", "ja"):
            grams: list[str] = []
            for run in _HAN_RUN.findall(text):
                for n in range(1, max_n + 1):
                    grams.extend(run[i : i + n] for i in range(len(run) - n + 1))
            grams.extend(_WORD.findall(text.lower()))
            return grams
        words = _WORD.findall(text.lower())
        grams = list(words)
        for n in range(2, max_n + 1):
            grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return grams
    lowered = text.lower().replace("\u2019", "'")
    pattern = _LATIN_OR_CHAR if language in ("zh", "ja") else _WORD_OR_MARK
    found = pattern.findall(lowered)
    grams = list(found)
    spaced = (
        [bool(_LATIN.match(unit)) for unit in found]
        if language in ("zh", "ja")
        else [True] * len(found)
    )
    for n in range(2, max_n + 1):
        grams.extend(
            (" " if any(spaced[i : i + n]) else "").join(found[i : i + n])
            for i in range(len(found) - n + 1)
        )
    if found and max_n >= 2:
        if starts_turn:
            grams.append(f"<s> {found[0]}")
        if ends_turn:
            grams.append(f"{found[-1]} </s>")
    return grams


def block_turns(session: Session, block) -> list[int]:
    n_turns = len(session.turns)
    selected = []
    for turn in session.turns:
        relative = turn.index / max(1, n_turns)
        inside = block.start <= relative < block.end or (block.end == 1.0 and relative >= 1.0)
        if turn.role == block.role and inside:
            selected.append(turn.index)
    if block.last_turns is not None:
        selected = selected[-block.last_turns :]
    return selected


def transform(vocabulary, documents: list[Counter]) -> sparse.csr_matrix:
    indptr, indices, values = [0], [], []
    for document in documents:
        for token, count in document.items():
            column = vocabulary.vocabulary.get(token)
            if column is not None:
                indices.append(column)
                values.append(1.0 + np.log(count))
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.asarray(values, dtype=np.float64), indices, indptr),
        shape=(len(documents), len(vocabulary.vocabulary)),
    )
    matrix = matrix.multiply(vocabulary.idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ matrix


def token_effects(vocabulary, document: Counter, block_row, weights) -> dict:
    row = block_row.tocsr()
    contributions = row.data[:, None] * weights[row.indices]
    position_of = {column: position for position, column in enumerate(row.indices.tolist())}
    effects = {}
    for token, count in document.items():
        column = vocabulary.vocabulary.get(token)
        if column is not None and column in position_of:
            effects[token] = contributions[position_of[column]] / count
    return effects


def effect_of(counts: Counter, turn_index: int, block_effects, zero):
    total = zero
    for turn_indices, effects in block_effects:
        if turn_index in turn_indices:
            for token, count in counts.items():
                effect = effects.get(token)
                if effect is not None:
                    total = total + count * effect
    return total


def shorten(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


@dataclass
class ReferenceResult:
    """One session's unrounded item predictions and evidence
    ``{dimension: [(turn_index, quote, unrounded contribution)]}``."""

    values: np.ndarray
    evidence: dict[str, list[tuple[int, str, float]]]


def reference_assess(
    model: LiteModel, sessions: list[Session], language: str, per_direction: int = 2
) -> list[ReferenceResult]:
    """The original prediction and evidence of ``model`` for ``sessions``."""
    config = model.config
    instrument = get_instrument(config.instrument)
    ids = model.item_ids
    columns = {
        name: [ids.index(item_id) for item_id in item_ids]
        for name, item_ids in instrument.dimensions.items()
    } or {"total": [ids.index(item_id) for item_id in instrument.scored_item_ids]}
    slope = model.calibration[0]
    weights = np.column_stack(
        [(model.coef[:, cols] * slope[cols]).mean(axis=1) for cols in columns.values()]
    )
    offsets = [0]
    for vocabulary in model.vocabularies:
        offsets.append(offsets[-1] + len(vocabulary))
    low = np.array([instrument.scale_for(item_id).min for item_id in ids], dtype=float)
    high = np.array([instrument.scale_for(item_id).max for item_id in ids], dtype=float)

    turn_counts = [
        [
            Counter(tokenize(turn.text, language, config.max_n, config.tokenizer))
            for turn in session.turns
        ]
        for session in sessions
    ]
    documents = []
    for block in config.blocks:
        block_documents = []
        for session, counts in zip(sessions, turn_counts, strict=True):
            document: Counter = Counter()
            for index in block_turns(session, block):
                document.update(counts[index])
            block_documents.append(document)
        documents.append(block_documents)
    parts = [
        transform(vocabulary, block_documents) * block.weight
        for block, vocabulary, block_documents in zip(
            config.blocks, model.vocabularies, documents, strict=True
        )
    ]
    dense = standardize(length_matrix(sessions), model.dense_mean, model.dense_scale)
    parts.append(sparse.csr_matrix(dense * config.dense_weight))
    matrix = sparse.hstack(parts, format="csr")
    raw = matrix @ model.coef + model.intercept
    values = np.clip(raw * model.calibration[0] + model.calibration[1], low, high)

    results = []
    zero = np.zeros(len(columns))
    for position, session in enumerate(sessions):
        row = matrix[position]
        block_effects = []
        for index, (block, vocabulary) in enumerate(
            zip(config.blocks, model.vocabularies, strict=True)
        ):
            turns = block_turns(session, block)
            if not turns:
                continue
            start, end = offsets[index], offsets[index + 1]
            effects = token_effects(
                vocabulary, documents[index][position], row[:, start:end], weights[start:end]
            )
            block_effects.append((set(turns), effects))
        counts = turn_counts[position]
        shares = np.array(
            [effect_of(c, index, block_effects, zero) for index, c in enumerate(counts)]
        ).reshape(len(counts), len(columns))
        evidence = {}
        for column, dimension in enumerate(columns):
            order = np.argsort(shares[:, column], kind="stable")
            lowering = [i for i in order[:per_direction] if shares[i, column] < 0]
            raising = [i for i in order[::-1][:per_direction] if shares[i, column] > 0]
            pieces = []
            for index in raising + lowering:
                contribution = float(shares[index, column])
                text = session.turns[index].text
                sentences = [m.group().strip() for m in _SENTENCE.finditer(text)]
                sentences = [sentence for sentence in sentences if sentence]
                if len(sentences) <= 1:
                    quote = shorten(text.strip())
                else:
                    sign = 1.0 if contribution >= 0 else -1.0
                    last = len(sentences) - 1

                    def weight(
                        at: int,
                        index=index,
                        sign=sign,
                        sentences=sentences,
                        last=last,
                        column=column,
                        block_effects=block_effects,
                    ) -> float:
                        tokens = tokenize(
                            sentences[at],
                            language,
                            config.max_n,
                            config.tokenizer,
                            starts_turn=at == 0,
                            ends_turn=at == last,
                        )
                        effect = effect_of(Counter(tokens), index, block_effects, zero)
                        return sign * float(effect[column])

                    quote = shorten(sentences[max(range(len(sentences)), key=weight)])
                pieces.append((int(index), quote, contribution))
            evidence[dimension] = pieces
        results.append(ReferenceResult(values[position], evidence))
    return results
