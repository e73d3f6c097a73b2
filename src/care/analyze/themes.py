"""Themes of low alliance: cluster the evidence and rationales behind low scores.

For every session whose score on a dimension is in the corpus's lowest ``quantile``, the
texts are the dimension's evidence that lowered it (negative contribution; or evidence
without a contribution, as LLM rationales quote it), and the rationales of the dimension's
items. Texts are turned into TF-IDF vectors of word uni- and bigrams (Chinese: jieba words;
Japanese: character bi- and trigrams), clustered by k-means (:func:`scipy.cluster.vq.kmeans2`,
fixed seed) and each theme is labelled by its centroid's top terms, with its size and the
texts closest to its centroid as representative quotes.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from care.results import Assessments

_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "do",
        "does",
        "did",
        "for",
        "from",
        "have",
        "has",
        "had",
        "he",
        "her",
        "him",
        "his",
        "i",
        "i'm",
        "if",
        "in",
        "is",
        "it",
        "it's",
        "its",
        "just",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "to",
        "too",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yes",
        "ok",
        "okay",
        "um",
        "can",
        "could",
        "am",
        "been",
        "being",
        "how",
        "why",
        "all",
        "any",
        "some",
        "very",
        "really",
        "also",
        "about",
        "up",
        "out",
        "one",
        "get",
        "got",
        "know",
        "think",
        "like",
        "don't",
        "that's",
        "i've",
        "you're",
    ]
)


@dataclass
class ThemeResult:
    """Themes found among low-score texts.

    Attributes:
        themes: ``theme, label, size, share, dimensions`` per theme, largest first.
        quotes: ``theme, rank, session_id, turn_index, dimension, kind, text`` for the
            representative texts.
        notes: What was done, in words.
        n_texts: How many texts were clustered.
    """

    themes: pd.DataFrame
    quotes: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    n_texts: int = 0


def _tokens(text: str, language: str | None) -> list[str]:
    if language == "zh":
        import jieba

        words = [w.strip() for w in jieba.lcut(text) if w.strip()]
        words = [w for w in words if re.search(r"\w", w) and len(w) > 1]
        return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    if language == "ja":
        chars = re.sub(r"\W+", "", text)
        return [chars[i : i + n] for n in (2, 3) for i in range(len(chars) - n + 1)]
    words = [w for w in re.findall(r"[a-z][a-z']+", text.lower())]
    content = [w for w in words if w not in _STOP]
    bigrams = [f"{a} {b}" for a, b in itertools.pairwise(words) if not (a in _STOP and b in _STOP)]
    return content + [b for b in bigrams if not set(b.split()) <= _STOP]


def tfidf(
    documents: Sequence[list[str]], *, min_df: int = 2, max_terms: int = 3000
) -> tuple[np.ndarray, list[str]]:
    """L2-normalised TF-IDF rows (sublinear tf, smooth idf) over terms in >= ``min_df`` docs."""
    df = Counter(term for doc in documents for term in set(doc))
    terms = [t for t, c in df.most_common() if c >= min_df][:max_terms]
    index = {t: i for i, t in enumerate(terms)}
    n = len(documents)
    matrix = np.zeros((n, len(terms)))
    for row, doc in enumerate(documents):
        for term, count in Counter(doc).items():
            if term in index:
                matrix[row, index[term]] = 1.0 + np.log(count)
    idf = np.log((1 + n) / (1 + np.array([df[t] for t in terms], dtype=float))) + 1.0
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0), terms


def semantic_space(matrix: np.ndarray, dimensions: int = 50) -> np.ndarray:
    """Rows projected on the top singular directions of the TF-IDF matrix (latent semantic
    analysis) and L2-normalised, so that k-means groups texts by co-occurring terms rather
    than leaving every text with rare words in one catch-all cluster."""
    rank = min(dimensions, min(matrix.shape) - 1)
    if rank < 2:
        return matrix
    # The top eigenvectors of the terms' Gram matrix are the top right singular vectors;
    # eigh is deterministic, so the themes are too.
    _, vectors = np.linalg.eigh(matrix.T @ matrix)
    projected = matrix @ vectors[:, ::-1][:, :rank]
    norms = np.linalg.norm(projected, axis=1, keepdims=True)
    return np.divide(projected, norms, out=np.zeros_like(projected), where=norms > 0)


def low_score_texts(
    assessments: Assessments, table: pd.DataFrame, dimensions: dict[str, list[str]], quantile: float
) -> pd.DataFrame:
    """The texts behind low scores: ``session_id, dimension, turn_index, kind, text, language``."""
    by_id = assessments.by_session()
    rows = []
    for dimension, items in dimensions.items():
        if dimension not in table:
            continue
        cut = table[dimension].quantile(quantile)
        for sid in table.loc[table[dimension] <= cut, "session_id"]:
            result = by_id[sid]
            for piece in result.evidence.get(dimension, []):
                if piece.contribution is None or piece.contribution < 0:
                    rows.append((sid, dimension, piece.turn_index, "evidence", piece.quote))
            for item in items:
                rating = result.items.get(item)
                if rating is not None and rating.rationale:
                    rows.append((sid, dimension, None, "rationale", rating.rationale))
                    for piece in rating.evidence:
                        rows.append((sid, dimension, piece.turn_index, "evidence", piece.quote))
    frame = pd.DataFrame(
        rows, columns=["session_id", "dimension", "turn_index", "kind", "text"]
    ).drop_duplicates()
    languages = {sid: result.language for sid, result in by_id.items()}
    frame["language"] = frame["session_id"].map(languages)
    return frame.reset_index(drop=True)


def find_themes(
    assessments: Assessments,
    table: pd.DataFrame,
    dimensions: dict[str, list[str]],
    *,
    n_themes: int = 8,
    quantile: float = 0.25,
    n_quotes: int = 3,
    label_terms: int = 4,
    seed: int = 0,
) -> ThemeResult:
    """Group the texts behind the lowest ``quantile`` of each dimension into themes."""
    from scipy.cluster.vq import kmeans2

    texts = low_score_texts(assessments, table, dimensions, quantile)
    empty = ThemeResult(
        pd.DataFrame(columns=["theme", "label", "size", "share", "dimensions"]),
        pd.DataFrame(
            columns=["theme", "rank", "session_id", "turn_index", "dimension", "kind", "text"]
        ),
    )
    if texts.empty:
        empty.notes.append("no evidence or rationale behind low scores: no themes")
        return empty
    language = texts["language"].mode().iloc[0] if texts["language"].notna().any() else None
    docs = [_tokens(text, language) for text in texts["text"]]
    matrix, terms = tfidf(docs)
    has_terms = matrix.any(axis=1)
    k = min(n_themes, int(has_terms.sum()) // 5)
    if k < 2 or not terms:
        empty.notes.append(
            f"only {int(has_terms.sum())} texts behind low scores: too few for themes"
        )
        empty.n_texts = int(has_terms.sum())
        return empty
    texts = texts[has_terms].reset_index(drop=True)
    matrix = matrix[has_terms]
    rng = np.random.default_rng(seed)
    _centroids, labels = kmeans2(semantic_space(matrix), k, minit="++", seed=rng, iter=50)
    theme_rows, quote_rows = [], []
    order = sorted(range(k), key=lambda c: -(labels == c).sum())
    for number, c in enumerate([c for c in order if (labels == c).any()], start=1):
        members = np.flatnonzero(labels == c)
        centroid = matrix[members].mean(axis=0)
        top = [terms[i] for i in np.argsort(-centroid)[:label_terms] if centroid[i] > 0]
        theme_rows.append(
            {
                "theme": number,
                "label": ", ".join(top),
                "size": len(members),
                "share": len(members) / len(texts),
                "dimensions": ", ".join(
                    f"{d} {n}" for d, n in Counter(texts.loc[members, "dimension"]).most_common()
                ),
            }
        )
        similarity = matrix[members] @ centroid
        seen: set[str] = set()
        rank = 0
        for position in members[np.argsort(-similarity, kind="stable")]:
            text = texts.loc[position, "text"]
            if text in seen:
                continue
            seen.add(text)
            rank += 1
            turn = texts.loc[position, "turn_index"]
            quote_rows.append(
                {
                    "theme": number,
                    "rank": rank,
                    "session_id": texts.loc[position, "session_id"],
                    "turn_index": None if pd.isna(turn) else int(turn),
                    "dimension": texts.loc[position, "dimension"],
                    "kind": texts.loc[position, "kind"],
                    "text": text,
                }
            )
            if rank >= n_quotes:
                break
    notes = [
        f"{len(texts)} texts behind the lowest {quantile:.0%} of each dimension, "
        f"{len(terms)} terms, k-means with k={k} (seed {seed})"
    ]
    return ThemeResult(pd.DataFrame(theme_rows), pd.DataFrame(quote_rows), notes, len(texts))
