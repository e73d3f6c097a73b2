"""TF-IDF over n-gram counts, with the per-turn decomposition the evidence needs.

A block's document is the sum of the token counts of the turns it selects; its vector
is ``(1 + log count) * idf``, L2-normalised. Because a feature's value is split over the
turns in proportion to their counts of it, the linear model's output decomposes exactly
into per-turn contributions (see :meth:`TfidfVocabulary.token_effects`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse


class TfidfVocabulary:
    """A fitted n-gram vocabulary with inverse document frequencies.

    Args:
        vocabulary: Token to column.
        idf: Inverse document frequency per column.
    """

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(
        cls, documents: Sequence[Counter[str]], min_df: int = 3, max_features: int | None = None
    ) -> TfidfVocabulary:
        """Learn the tokens that occur in at least ``min_df`` documents, keeping the
        ``max_features`` most frequent (ties broken by token, so fitting is deterministic)."""
        document_frequency: Counter[str] = Counter()
        for document in documents:
            document_frequency.update(document.keys())
        kept = [(token, df) for token, df in document_frequency.items() if df >= min_df]
        kept.sort(key=lambda pair: (-pair[1], pair[0]))
        if max_features is not None:
            kept = kept[:max_features]
        kept.sort(key=lambda pair: pair[0])
        vocabulary = {token: column for column, (token, _) in enumerate(kept)}
        n_documents = len(documents)
        idf = np.array(
            [np.log((1 + n_documents) / (1 + df)) + 1 for _, df in kept], dtype=np.float64
        )
        return cls(vocabulary, idf)

    def transform(self, documents: Sequence[Counter[str]]) -> sparse.csr_matrix:
        """Sublinear TF-IDF rows, L2-normalised (an empty document is a zero row)."""
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        vocabulary = self.vocabulary
        for document in documents:
            for token, count in document.items():
                column = vocabulary.get(token)
                if column is not None:
                    indices.append(column)
                    values.append(1.0 + np.log(count))
            indptr.append(len(indices))
        matrix = sparse.csr_matrix(
            (np.asarray(values, dtype=np.float64), indices, indptr),
            shape=(len(documents), len(vocabulary)),
        )
        matrix = matrix.multiply(self.idf[None, :]).tocsr() if len(vocabulary) else matrix
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.diags(1.0 / norms) @ matrix

    def token_effects(
        self, document: Counter[str], block_row: sparse.csr_matrix, weights: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The effect on the outputs of each occurrence of each token of ``document``.

        ``document`` is the block's summed token counts, ``block_row`` its 1 x V TF-IDF
        row and ``weights`` the V x outputs slice of the model's coefficients. A token's
        contribution ``value * weights[token]`` is shared equally by its occurrences, so
        summing ``count * effect`` over the tokens of a turn gives the turn's exact share
        of ``block_row @ weights``.
        """
        row = block_row.tocsr()
        contributions = row.data[:, None] * weights[row.indices]
        position_of = {column: position for position, column in enumerate(row.indices.tolist())}
        effects: dict[str, np.ndarray] = {}
        vocabulary = self.vocabulary
        for token, count in document.items():
            column = vocabulary.get(token)
            if column is not None and column in position_of:
                effects[token] = contributions[position_of[column]] / count
        return effects
