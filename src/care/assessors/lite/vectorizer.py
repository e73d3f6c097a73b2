"""TF-IDF over n-gram counts, with the per-turn decomposition the evidence needs.

A block's document is the sum of the token counts of the turns it selects; its vector
is ``(1 + log count) * idf``, L2-normalised. Because a feature's value is split over the
turns in proportion to their counts of it, the linear model's output decomposes exactly
into per-turn contributions (see :mod:`care.assessors.lite.predictor`).
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
        values: list[int] = []
        vocabulary = self.vocabulary
        for document in documents:
            for token, count in document.items():
                column = vocabulary.get(token)
                if column is not None:
                    indices.append(column)
                    values.append(count)
            indptr.append(len(indices))
        counts = sparse.csr_matrix(
            (np.asarray(values, dtype=np.float64), indices, indptr),
            shape=(len(documents), len(vocabulary)),
        )
        return self.weigh(counts)

    def weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Sublinear TF-IDF rows of a documents x vocabulary matrix of (positive) token
        counts, L2-normalised (an empty document is a zero row). The result has the
        sparsity structure of ``counts``, entry for entry."""
        values = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        lengths = np.diff(counts.indptr)
        rows = np.repeat(np.arange(counts.shape[0]), lengths)
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=counts.shape[0]))
        norms[norms == 0] = 1.0
        values *= np.repeat(1.0 / norms, lengths)
        return sparse.csr_matrix(
            (values, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape
        )
